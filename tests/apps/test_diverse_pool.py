"""The ``diverse`` strategy against ``random`` through the real MONAI Label server.

The datastore holds the 80-knee pool of :mod:`msklabel.features.pool` (20 simulated
subjects x 4 echoes, 40 seed x contrast groups). From 8 random first labels, each strategy
is asked for the next image and that image's label is saved, as an annotator would, until
every group has a labeled member; the labels are then removed for the next start. The
server computes and records the study embeddings itself (LiteMedSAM's encoder).
``pytest tests/apps/test_diverse_pool.py -s`` prints the measured figures.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelUtils

from msklabel.features.pool import simulated_pool
from msklabel.io.nifti import write_nifti
from msklabel.serve import MonaiLabelServer

pytestmark = pytest.mark.slow

STARTS = 8


@dataclass(frozen=True)
class Pool:
    """The datastore folder, each image's group, and a label file that fits every image."""

    folder: Path
    groups: dict[str, tuple[int, str]]
    label: Path


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Pool:
    folder = tmp_path_factory.mktemp("pool")
    members = simulated_pool(range(20), slices=1)
    for member in members:
        volume = member.volume.with_array(member.volume.array.astype(np.int16))
        write_nifti(volume, folder / f"{member.name}.nii.gz")
    label = tmp_path_factory.mktemp("label") / "label.nii.gz"
    blank = members[0].volume.with_array(np.zeros(members[0].volume.shape, np.uint8))
    write_nifti(blank, label)
    return Pool(folder, {member.name: member.group for member in members}, label)


@pytest.fixture(scope="module")
def client(pool, tmp_path_factory) -> MONAILabelClient:
    conf = {"model_dir": str(tmp_path_factory.mktemp("model"))}
    # Labels change here only through the REST API. With the folder watcher on, a DELETE
    # reaches the datastore only when the watcher's event does, so the next start could
    # see a removed label; without it the datastore is refreshed within each request.
    env = {"MONAI_LABEL_DATASTORE_AUTO_RELOAD": "false"}
    with MonaiLabelServer(pool.folder, conf=conf, env=env) as server:
        yield MONAILabelClient(server.url, tmpdir=str(tmp_path_factory.mktemp("results")))


def picks_through_server(
    client: MONAILabelClient, pool: Pool, strategy: str, first: str, most: int
) -> int:
    """Labels saved, ``first`` included, until every group of the pool has one, asking
    ``strategy`` for each next image (counting stops at ``most``); then unlabels them all."""
    labeled = [first]
    client.save_label(first, str(pool.label), tag="final")
    try:
        while {pool.groups[name] for name in labeled} != set(pool.groups.values()):
            if len(labeled) == most:
                break
            choice = client.next_sample(strategy, {})
            assert choice["id"] not in labeled and choice["explanation"]
            client.save_label(choice["id"], str(pool.label), tag="final")
            labeled.append(choice["id"])
        return len(labeled)
    finally:
        for name in labeled:
            selector = f"/datastore/label?id={MONAILabelUtils.urllib_quote_plus(name)}&tag=final"
            status, *_ = MONAILabelUtils.http_method("DELETE", client.get_server_url(), selector)
            assert status == 200, f"the label of {name} was not removed"


def test_diverse_covers_the_pool_with_fewer_picks_than_random(client, pool):
    names = sorted(pool.groups)
    assert len(names) == 80 and len(set(pool.groups.values())) == 40
    assert client.info()["datastore"]["total"] == 80
    firsts = [random.Random(start).choice(names) for start in range(STARTS)]
    diverse = [picks_through_server(client, pool, "diverse", first, len(names)) for first in firsts]
    # Counting random's picks past the worst diverse run cannot change which median is lower.
    most = max(diverse) + 1
    drawn = [picks_through_server(client, pool, "random", first, most) for first in firsts]
    stopped, median = sum(count == most for count in drawn), statistics.median(drawn)
    print(
        f"\nthrough the server, picks until all 40 groups are labeled, {STARTS} starts: diverse "
        f"median {statistics.median(diverse)} ({min(diverse)}..{max(diverse)}); random median "
        f"{'>= ' if median == most else ''}{median} ({stopped} of {STARTS} starts not covered "
        f"in {most - 1} picks, where counting stopped)"
    )
    assert statistics.median(diverse) < statistics.median(drawn)
    assert not any((pool.folder / "labels" / "final").iterdir()), "every label was removed"
    assert not any(entry.get("labels") for entry in client.datastore()["objects"].values())
