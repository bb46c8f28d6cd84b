-- Health of an AuditHound SecurityAlert: always Healthy, with the finding as the message.
-- An alert is a finding about the cluster, not a component that can fail: it is never in Git,
-- so marking it Degraded would only ever blame an Application for someone else's activity.
-- Lua 5.1 for gopher-lua, base library only (no useOpenLibs needed).
local hs = {}
hs.status = "Healthy"
hs.message = ""

local spec = obj.spec
if spec == nil then
  return hs
end

-- The schema defaults workflowStatus to open; a live object always carries it.
local states = { open = "Open", acknowledged = "Acknowledged", closed = "Closed" }
local state = spec.workflowStatus
if state == nil then
  state = "open"
end
local message = states[state] or state

if spec.rule ~= nil and spec.rule.severity ~= nil then
  message = message .. " " .. spec.rule.severity
end
message = message .. " alert"
if spec.reason ~= nil and spec.reason ~= "" then
  message = message .. ": " .. spec.reason
end
hs.message = message
return hs
