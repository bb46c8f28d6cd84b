-- Health of an AuditHound DetectionRule, read from the Ready condition the operator writes.
-- Lua 5.1 for gopher-lua, base library only: Argo CD opens string and math for a ConfigMap
-- script only with resource.customizations.useOpenLibs, and this script needs neither.
local hs = {}

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

-- Until the operator has judged the current spec, any older verdict is not this rule's.
local function waiting()
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "Waiting for the operator to compile generation " .. generation
  else
    hs.message = "Waiting for the operator to compile the rule"
  end
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil then
  return waiting()
end

local ready = nil
for _, condition in ipairs(status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  end
end
if ready == nil then
  return waiting()
end

-- The condition names the generation it was computed for; status.observedGeneration is the
-- fallback for a condition written without one.
local observed = ready.observedGeneration
if observed == nil then
  observed = status.observedGeneration
end
if generation ~= nil and observed ~= generation then
  return waiting()
end

local message = ready.message
if message == nil or message == "" then
  message = ready.reason or ""
end
hs.message = message

if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" and ready.reason == "Disabled" then
  -- Switched off on purpose (spec.enabled: false), as a suspended CronJob is.
  hs.status = "Suspended"
elseif ready.status == "False" then
  -- QueryInvalid, SpecInvalid, or a reason newer than this script: the rule does not run.
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
return hs
