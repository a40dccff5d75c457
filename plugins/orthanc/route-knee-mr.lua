-- Orthanc Lua script: route every stable study's knee MR series to msklabel.
--
-- When a study has received no new instance for "StableAge" seconds, its MR series whose
-- Body Part Examined, Series Description or Protocol Name mentions the knee are sent by
-- C-STORE to the DicomModalities entry named TARGET (msklabel's DICOM listener), as an
-- Orthanc job (retried and visible under /jobs). Other series and studies stay where they are.

local TARGET = 'MSKLABEL'
local WORDS = { 'KNEE', 'GENOU', 'KNIE' }

local function Mentions(text)
  local upper = string.upper(text or '')
  for _, word in ipairs(WORDS) do
    if string.find(upper, word, 1, true) ~= nil then
      return true
    end
  end
  return false
end

function IsKneeMr(series)
  local tags = series['MainDicomTags']
  if tags['Modality'] ~= 'MR' then
    return false
  end
  return Mentions(tags['BodyPartExamined']) or Mentions(tags['SeriesDescription'])
    or Mentions(tags['ProtocolName'])
end

function OnStableStudy(studyId, tags, metadata)
  local study = ParseJson(RestApiGet('/studies/' .. studyId))
  local wanted = {}
  for _, seriesId in ipairs(study['Series']) do
    if IsKneeMr(ParseJson(RestApiGet('/series/' .. seriesId))) then
      table.insert(wanted, seriesId)
    end
  end
  if #wanted > 0 then
    local job = { Resources = wanted, Asynchronous = true }
    RestApiPost('/modalities/' .. TARGET .. '/store', DumpJson(job, true), true)
    print('msklabel: routing ' .. #wanted .. ' knee MR series of study ' .. studyId)
  end
end
