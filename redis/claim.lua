-- claim.lua: the claims of a three-step commit (a Cluster's, or a single
-- server's when the one script cannot commit the batch), on one seen
-- shard's slot (lib.lua's dedup state). Before begin.lua ("claim"): a claim
-- says which stream entry counts the activity, unfinished; the same entry
-- claiming again (after a crash anywhere before its commit finished) is no
-- duplicate. With the apply step ("confirm"): the claims are marked
-- finished, so that the entry delivered again later (a group destroyed
-- and recreated) is a duplicate of itself.
-- KEYS[1] the seen shard. ARGV: since (claim units: the window's start),
-- the most claims a shard keeps (0: no cap), the shard's ttl in ms,
-- "claim" or "confirm", then a claims section of this one shard.
-- "claim": when an activity is claimed already (claim_dups), it writes
-- nothing and returns {'dups', ordinals...} (the caller drops those
-- entries' effects and claims the rest again); otherwise it records the
-- claims and returns {'ok'}. "confirm" returns {'ok'}. Uses claim_dups,
-- claim_record and claim_confirm of lib.lua.
--
-- KEYS = shard
-- ARGV = since cap ttl mode m trim pairs[m]{claim member}
if ARGV[4] == 'confirm' then
  claim_confirm(0, 1, 5)
  return {'ok'}
end
local dups = claim_dups(0, 1, 5, ARGV[1])
if #dups > 0 then
  table.insert(dups, 1, 'dups')
  return dups
end
claim_record(0, 1, 5, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
return {'ok'}
