-- claim.lua: the claims of a three-step commit (a Cluster's, or a single
-- server's when the one script cannot commit the batch), on one seen
-- shard's slot (lib.lua's dedup state). Before begin.lua ("claim"): a claim
-- says which stream entry counts the activity, unfinished; the same entry
-- claiming again (after a crash anywhere before its commit finished) is no
-- duplicate. With the apply step ("confirm"): the claims are marked
-- finished, so that the entry delivered again later (a group destroyed
-- and recreated) is a duplicate of itself.
-- KEYS[1] the seen shard, then nb seen bitmaps (lib.lua). ARGV: since
-- (claim units: the window's start), the most claims a shard keeps (0: no
-- cap), the shard's ttl in ms, "claim" or "confirm", nb, then a claims
-- section of this one shard, and a bits section of nb bitmaps. On a single
-- server the bits section holds the shard's claims whose activity the
-- one-script commit (single.lua) may have kept as a bit: "claim" checks
-- them too (their ordinals follow the shard's) and keeps claims in the
-- shard only; on a Cluster, where single.lua never runs, nb is 0.
-- "claim": when an activity is claimed already (claim_dups), it writes
-- nothing and returns {'dups', ordinals...} (the caller drops those
-- entries' effects and claims the rest again); otherwise it records the
-- claims and returns {'ok'}. "confirm" returns {'ok'}. Uses claim_dups,
-- claim_record, claim_confirm, claim_skip and bits_dups of lib.lua.
--
-- KEYS = shard bitmaps[nb]
-- ARGV = since cap ttl mode nb m trim pairs[m]{claim member} bits[nb]{m first last offsets}
if ARGV[4] == 'confirm' then
  claim_confirm(0, 1, 6)
  return {'ok'}
end
local dups = claim_dups(0, 1, 6, ARGV[1])
bits_dups(1, tonumber(ARGV[5]), claim_skip(6, 1), tonumber(ARGV[6]), dups, ARGV[1])
if #dups > 0 then
  table.insert(dups, 1, 'dups')
  return dups
end
claim_record(0, 1, 6, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
return {'ok'}
