-- Health of an AuditHound DetectionException, read from the Ready condition the operator writes.
-- Lua 5.1 for gopher-lua, base library only (as the DetectionRule script).
local hs = {}

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

-- Until the operator has checked the current spec, any older verdict is not this list's.
local function waiting()
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "Waiting for the operator to check generation " .. generation
  else
    hs.message = "Waiting for the operator to check the lists"
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
elseif ready.status == "False" then
  -- An invalid item or value list: the rules that reference it are not Ready either.
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
return hs
