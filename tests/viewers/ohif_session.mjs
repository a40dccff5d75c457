// A radiologist's OHIF session, driven in Debian's chromium by playwright-core.
//
// Usage: node ohif_session.mjs CONFIG.json
// CONFIG: {phase, server, study, series, artifacts, label}: "label" or "display", the MONAI
// Label server's root URL (OHIF is served at /ohif/), the study and series to open, the folder
// for screenshots, answers and results-<phase>.json, and the structure to click; optional:
// infer_timeout_s (default 420), chromium (default /usr/bin/chromium), debug (log console),
// username and password: the server asks for a login (msklabel's login page at /auth/login,
// where opening OHIF leads) and the session types them there first.
// Phase "label" (a screenshot each): study list -> open the study in the MONAI Label mode ->
// connect the panel -> Auto-Segmentation "Run" -> Point Prompts: pick the structure, click
// inside it on the sagittal view, "Run" -> save the label with the request the panel's client
// makes (its save_label: PUT /datastore/label, params + label.bin; the panel has no button).
// Phase "display": the study in OHIF's basic viewer -> load the SEG (its most labelled slice)
// -> load the SR.
// results-<phase>.json holds what the Python test asserts on: the labelmap OHIF drew (geometry,
// voxels per segment), the clicked voxel, the save answer, the SEG and SR as OHIF shows them.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = config.artifacts;
const results = { steps: [] };
const timeout = { load: 180_000, infer: (config.infer_timeout_s || 420) * 1000 };

function log(message) {
  console.log(`[ohif] ${new Date().toISOString().slice(11, 19)} ${message}`);
}

async function shot(page, name) {
  await page.waitForTimeout(1500); // let the viewports finish rendering
  await page.screenshot({ path: path.join(out, `${name}.png`) });
  results.steps.push(name);
  log(`screenshot ${name}`);
}

/** Open `url`; when the server sends the browser to its login page, log in there (the page's
 * form, as a person would) and come back to `url`. Records what the login looked like. */
async function open(page, url, options) {
  await page.goto(url, options);
  if (!new URL(page.url()).pathname.startsWith('/auth/login')) return;
  if (!config.username) throw new Error(`the server asks for a login at ${page.url()}`);
  await page.screenshot({ path: path.join(out, `ohif-login-${config.phase}.png`) });
  await page.getByLabel('User name').fill(config.username);
  await page.getByLabel('Password').fill(config.password);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/auth/login'), { timeout: timeout.load }),
    page.getByRole('button', { name: 'Log in' }).click(),
  ]);
  await page.waitForLoadState('networkidle', { timeout: timeout.load });
  const cookies = await page.context().cookies();
  results.login = {
    user: config.username,
    returned_to: page.url(),
    cookie: cookies.filter((c) => c.name === 'msklabel_session')
      .map((c) => ({ httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path })),
  };
  log(`logged in as ${config.username}`);
}

/** The MONAI Label panel's tab (Auto-Segmentation, Point Prompts, ...). */
function tab(page, title) {
  return page.locator('.tab', { has: page.locator('label.tab-label', { hasText: title }) });
}

/** Labelmap geometry and voxels per segment, as OHIF holds them; with `probe` ({voxel,
 * segment}), the value at the voxel and the segment's voxels on the voxel's slice. */
async function labelmapState(page, probe = null) {
  return page.evaluate((probe) => {
    const service = window.services.segmentationService;
    const volume = service.getLabelmapVolume('1');
    const data = volume.voxelManager.getCompleteScalarDataArray();
    const counts = {};
    for (let i = 0; i < data.length; i++) {
      if (data[i]) counts[data[i]] = (counts[data[i]] || 0) + 1;
    }
    const segments = {};
    for (const [index, segment] of Object.entries(service.getSegmentation('1').segments)) {
      if (segment) segments[index] = segment.label;
    }
    const [nx, ny] = volume.dimensions;
    let probed = null;
    if (probe) {
      const [i, j, k] = probe.voxel;
      const slice = data.subarray(k * nx * ny, (k + 1) * nx * ny);
      probed = {
        value: data[i + j * nx + k * nx * ny],
        sliceCount: slice.reduce((n, v) => n + (v === probe.segment ? 1 : 0), 0),
      };
    }
    return {
      probe: probed,
      dimensions: Array.from(volume.dimensions),
      spacing: Array.from(volume.spacing),
      origin: Array.from(volume.origin),
      direction: Array.from(volume.direction),
      counts,
      segments,
    };
  }, probe);
}

/** Wait until the panel's infer answer for `model` arrived and OHIF applied it. */
async function runInfer(page, button, model) {
  const answered = page.waitForResponse(
    (r) => r.url().includes(`/infer/${model}?`) && r.request().method() === 'POST',
    { timeout: timeout.infer },
  );
  const applied = page.waitForEvent('console', {
    predicate: (m) => m.text().includes("updated the segmentation's scalar data"),
    timeout: timeout.infer,
  });
  await page.locator(button).click();
  const [response] = await Promise.all([answered, applied]);
  if (response.status() !== 200) {
    throw new Error(`/infer/${model} answered ${response.status()}: ${await response.text()}`);
  }
  fs.writeFileSync(path.join(out, `${model}.nrrd`), await response.body());
}

/** Open the structure's largest slice on the sagittal view and click its most central voxel. */
async function clickInside(page, label) {
  const target = await page.evaluate((name) => {
    const service = window.services.segmentationService;
    const segments = service.getSegmentation('1').segments;
    const index = Number(Object.keys(segments).find((k) => segments[k]?.label === name));
    const volume = service.getLabelmapVolume('1');
    const [nx, ny, nz] = volume.dimensions;
    const data = volume.voxelManager.getCompleteScalarDataArray();
    let best = -1;
    let bestCount = 0;
    for (let k = 0; k < nz; k++) {
      let count = 0;
      for (let v = k * nx * ny; v < (k + 1) * nx * ny; v++) if (data[v] === index) count++;
      if (count > bestCount) [best, bestCount] = [k, count];
    }
    if (best < 0) return null;
    let [si, sj] = [0, 0];
    for (let v = best * nx * ny; v < (best + 1) * nx * ny; v++) {
      if (data[v] === index) [si, sj] = [si + (v % nx), sj + Math.floor((v % (nx * ny)) / nx)];
    }
    const [ci, cj] = [si / bestCount, sj / bestCount];
    let voxel = null;
    let distance = Infinity;
    for (let v = best * nx * ny; v < (best + 1) * nx * ny; v++) {
      if (data[v] !== index) continue;
      const [i, j] = [v % nx, Math.floor((v % (nx * ny)) / nx)];
      const d = (i - ci) ** 2 + (j - cj) ** 2;
      if (d < distance) [voxel, distance] = [[i, j, best], d];
    }
    const world = volume.imageData.indexToWorld(voxel);
    const viewport = window.services.cornerstoneViewportService.getCornerstoneViewport('mpr-sagittal');
    const camera = viewport.getCamera();
    const shift = world.map((w, a) => w - camera.focalPoint[a]);
    viewport.setCamera({
      focalPoint: world,
      position: camera.position.map((p, a) => p + shift[a]),
    });
    viewport.render();
    window.services.viewportGridService.setActiveViewportId('mpr-sagittal');
    const canvas = viewport.worldToCanvas(world);
    const box = viewport.element.getBoundingClientRect();
    return { voxel, segment: index, x: box.left + canvas[0], y: box.top + canvas[1] };
  }, label);
  if (!target) throw new Error(`OHIF shows no "${label}" to click in`);
  const probes = () =>
    page.evaluate(
      () =>
        window.cornerstoneTools.annotation.state
          .getAllAnnotations()
          .filter((a) => a.metadata.toolName === 'ProbeMONAILabel').length,
    );
  for (let attempt = 1; attempt <= 3; attempt++) {
    await page.waitForTimeout(1500);
    await page.mouse.click(target.x, target.y);
    await page.waitForTimeout(500);
    if ((await probes()) > 0) {
      log(`clicked ${label} at voxel ${target.voxel}`);
      return target;
    }
    log(`click ${attempt} placed no point; again`);
  }
  throw new Error('clicks on the viewport placed no MONAI Label point');
}

/** PUT /datastore/label as the panel's MonaiLabelClient.save_label does (params + label.bin). */
async function saveLabel(page, server, series) {
  return page.evaluate(
    async ({ server, series }) => {
      const service = window.services.segmentationService;
      const volume = service.getLabelmapVolume('1');
      const data = volume.voxelManager.getCompleteScalarDataArray();
      const segments = service.getSegmentation('1').segments;
      const present = new Set(data);
      const labelInfo = Object.entries(segments)
        .filter(([index, s]) => s && present.has(Number(index)))
        .map(([index, s]) => ({ name: s.label, idx: Number(index) }));
      const url = new URL('datastore/label', server);
      url.searchParams.append('image', series);
      const form = new FormData();
      form.append('params', JSON.stringify({ label_info: labelInfo }));
      form.append('label', new Blob([new Uint8Array(data)]), 'label.bin');
      const response = await fetch(url, { method: 'PUT', body: form });
      return { status: response.status, body: await response.text(), labelInfo };
    },
    { server, series },
  );
}

/** Hide OHIF's "investigational use only" banner where it shows. */
async function hideBanner(page) {
  const banner = page.getByText('Confirm and Hide');
  if (await banner.isVisible()) await banner.click();
}

/** Double-click the study browser's thumbnail of `modality` and wait for it to settle. */
async function openThumbnail(page, modality) {
  await page.locator('[data-cy^="study-browser-thumbnail"]', { hasText: modality }).first().dblclick();
  await page.waitForTimeout(3000);
}

/** The segmentation OHIF loaded from a SEG: segment names, voxels per slice, shown slice. */
async function showSegmentation(page) {
  return page.evaluate(() => {
    const { segmentationService, viewportGridService, cornerstoneViewportService } = window.services;
    const [segmentation] = segmentationService.getSegmentations();
    if (!segmentation) return null;
    const names = Object.values(segmentation.segments).filter(Boolean).map((s) => s.label);
    const { cache } = window.cornerstone;
    const state = window.cornerstoneTools.segmentation.state.getSegmentation(
      segmentation.segmentationId,
    );
    const labelmap = state.representationData.Labelmap;
    const count = (data) => data.reduce((n, v) => n + (v ? 1 : 0), 0);
    let perSlice;
    if (labelmap.imageIds) {
      perSlice = labelmap.imageIds.map((id) => {
        const image = cache.getImage(id);
        return count(image.voxelManager ? image.voxelManager.getScalarData() : image.getPixelData());
      });
    } else {
      const volume = cache.getVolume(labelmap.volumeId);
      const [nx, ny, nz] = volume.dimensions;
      const data = volume.voxelManager.getCompleteScalarDataArray();
      perSlice = Array.from({ length: nz }, (_, k) => count(data.subarray(k * nx * ny, (k + 1) * nx * ny)));
    }
    const best = perSlice.indexOf(Math.max(...perSlice));
    const viewport = cornerstoneViewportService.getCornerstoneViewport(
      viewportGridService.getActiveViewportId(),
    );
    if (viewport.setImageIdIndex) viewport.setImageIdIndex(best);
    else window.cornerstone.utilities.jumpToSlice(viewport.element, { imageIndex: best });
    return { names, perSlice, shown: best };
  });
}

async function display(page, server) {
  await open(page, `${server}ohif/viewer?StudyInstanceUIDs=${config.study}`, {
    waitUntil: 'networkidle',
    timeout: timeout.load,
  });
  await page.locator('[data-cy^="study-browser-thumbnail"]').first().waitFor({ timeout: timeout.load });
  await hideBanner(page);
  results.displaySets = await page.evaluate(() =>
    window.services.displaySetService.getActiveDisplaySets().map((d) => ({
      modality: d.Modality,
      description: d.SeriesDescription,
      handler: d.SOPClassHandlerId,
      instances: d.numImageFrames ?? d.instances?.length,
    })),
  );
  await openThumbnail(page, 'SEG');
  const hydrate = page.getByRole('button', { name: 'Yes' });
  await hydrate.waitFor({ timeout: timeout.load });
  await hydrate.click();
  await page.waitForFunction(() => window.services.segmentationService.getSegmentations().length > 0, null, {
    timeout: timeout.load,
  });
  await page.waitForTimeout(3000);
  results.seg = await showSegmentation(page);
  results.errors = await page.getByText('Something went wrong').count();
  await shot(page, 'ohif-seg');
  await openThumbnail(page, 'SR');
  await page.waitForTimeout(3000);
  results.sr = {
    measurements: await page.evaluate(() =>
      window.services.measurementService.getMeasurements().map((m) => m.label),
    ),
  };
  await shot(page, 'ohif-sr');
}

async function session(page) {
  const server = config.server.replace(/\/?$/, '/');
  if (config.phase === 'display') return display(page, server);
  await open(page, `${server}ohif/`, { waitUntil: 'networkidle', timeout: timeout.load });
  await hideBanner(page);
  const row = page.locator('tr', { hasText: 'MR' }).first();
  await row.waitFor({ timeout: timeout.load });
  await shot(page, 'ohif-study-list');

  await row.click();
  await page.getByRole('button', { name: 'MONAI Label' }).click();
  await page.waitForURL(/monai-label/, { timeout: timeout.load });
  await page.waitForFunction(
    () => window.cornerstone?.cache.getVolumes().some((v) => v.loadStatus?.loaded),
    null,
    { timeout: timeout.load },
  );
  await hideBanner(page);
  await shot(page, 'ohif-study-open');

  await page.fill('#monailabelServerURL', server);
  await page.locator('.settingsTable button.actionButton').click();
  await page.getByText('Auto-Segmentation').waitFor({ timeout: timeout.load });
  results.info = await (await page.request.get(`${server}info/`)).json();

  await page.getByText('Auto-Segmentation').click();
  const automatic = await tab(page, 'Auto-Segmentation').locator('select').inputValue();
  await runInfer(page, 'button[title="Run Segmentation"]', automatic);
  results.automatic = { model: automatic, labelmap: await labelmapState(page) };
  await shot(page, 'ohif-automatic');

  await page.getByText('Point Prompts').click();
  await page.waitForTimeout(1000);
  const prompts = tab(page, 'Point Prompts');
  const interactive = await prompts.locator('select').inputValue();
  await prompts.locator('tr.clickable-row', { hasText: new RegExp(`^\\s*${config.label}\\s*$`) }).click();
  const target = await clickInside(page, config.label);
  await runInfer(page, 'button[title="Run PointPrompts"]', interactive);
  results.interactive = { model: interactive, target, labelmap: await labelmapState(page, target) };
  await shot(page, 'ohif-interactive');

  results.save = await saveLabel(page, server, config.series);
  log(`save label: ${results.save.status} ${results.save.body.slice(0, 200)}`);
  await shot(page, 'ohif-saved');
}

const browser = await chromium.launch({
  executablePath: config.chromium || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
page.on('console', (m) => {
  if (config.debug || m.type() === 'error') log(`console ${m.type()}: ${m.text().slice(0, 300)}`);
});
page.on('pageerror', (error) => log(`page error: ${String(error).slice(0, 300)}`));
page.on('response', (r) => {
  if (r.status() >= 400) log(`HTTP ${r.status()} ${r.request().method()} ${r.url().slice(0, 200)}`);
});
page.on('requestfailed', (r) => {
  if (!r.url().startsWith('https://fonts.')) log(`request failed: ${r.url().slice(0, 200)}`);
});
let failed = false;
try {
  await session(page);
} catch (error) {
  failed = true;
  results.error = String(error.stack || error);
  log(`FAILED: ${results.error}`);
  await page.screenshot({ path: path.join(out, 'ohif-error.png') }).catch(() => {});
} finally {
  fs.writeFileSync(path.join(out, `results-${config.phase}.json`), JSON.stringify(results, null, 1));
  await browser.close();
}
process.exit(failed ? 1 : 0);
