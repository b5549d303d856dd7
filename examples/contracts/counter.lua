-- counter.lua: one integer in the contract's storage and two selectors.
--
--   selector 1  increment([by])  adds `by` (an integer; 1 when absent) to the
--                                count, stores it and returns the new count
--   selector 2  get()            returns the count (0 before the first increment)
--
-- An integer comes back in the receipt's return_data as one 32-byte
-- big-endian two's-complement word (64 hex digits).

local KEY = "count"

local function get(ctx)
    return storage.get(KEY) or 0
end

local function increment(ctx, by)
    if by == nil then
        by = 1
    elseif math.type(by) ~= "integer" then
        error("increment: the argument must be an integer, not a " .. type(by))
    end
    local count = (storage.get(KEY) or 0) + by
    storage.set(KEY, count)
    return count
end

return { [1] = increment, [2] = get }
