-- A batch of members imported on one Redis node in one call (api/store.py MemberWrites): each member is
-- a step, lua/member_import.lua with the KEYS and ARGV of its own call on a Cluster, run in the batch's
-- order. One call instead of a thousand: Redis parses one command and sets up one script run, not one a
-- member. The first member refused (a full Redis, a key of the wrong type) stops the batch, as the import
-- stops at a refused batch: {members written whole, the refusal}; else {members written}.
-- KEYS: the steps' keys (lua/steps.lua): several slots, so never on a Cluster
-- ARGV: the steps (lua/steps.lua), `member_import` once a member
--#include steps
--#script member_import

local members = steps().member_import or {}
for done, step in ipairs(members) do
  local ok, refusal = pcall(member_import, step[1], step[2])
  if not ok then return {done - 1, type(refusal) == 'table' and refusal or {err = refusal}} end
end
return {#members}
