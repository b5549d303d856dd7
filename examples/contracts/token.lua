-- token.lua: a fungible token. Whoever mints first becomes its owner, and
-- from then on only the owner can mint.
--
--   selector 1  mint(amount)          owner only: credits `amount` to the caller;
--                                     returns the new total supply
--   selector 2  transfer(to, amount)  moves `amount` from the caller to `to` and
--                                     logs "transfer" = "<from>:<to>:<amount>";
--                                     returns true (the word 1)
--   selector 3  balance_of(address)   returns the address's balance
--   selector 4  total_supply()        returns the total minted
--
-- Storage: "owner" holds the owner's address, "supply" the total supply,
-- and "balance:<address>" each holder's balance. Addresses are the 32 hex
-- digits of ctx.sender (or 40 for a contract), kept in lower case.

local function amount_arg(what, amount)
    if math.type(amount) ~= "integer" or amount <= 0 then
        error(what .. ": the amount must be a positive integer")
    end
    return amount
end

local function address_arg(what, address)
    if type(address) ~= "string" or (#address ~= 32 and #address ~= 40)
        or string.find(address, "[^0-9a-fA-F]") then
        error(what .. ": the address must be 32 or 40 hex digits")
    end
    return string.lower(address)
end

local function balance(address)
    return storage.get("balance:" .. address) or 0
end

local function mint(ctx, amount)
    amount_arg("mint", amount)
    local owner = storage.get("owner")
    if owner == nil then
        storage.set("owner", ctx.sender)
    elseif owner ~= ctx.sender then
        error("mint: only the owner can mint")
    end
    local supply = storage.get("supply") or 0
    if supply > math.maxinteger - amount then
        error("mint: the total supply would overflow")
    end
    storage.set("supply", supply + amount)
    storage.set("balance:" .. ctx.sender, balance(ctx.sender) + amount)
    emit("mint", ctx.sender .. ":" .. amount)
    return supply + amount
end

local function transfer(ctx, to, amount)
    to = address_arg("transfer", to)
    amount_arg("transfer", amount)
    local from = ctx.sender
    local have = balance(from)
    if have < amount then
        error("transfer: insufficient balance")
    end
    storage.set("balance:" .. from, have - amount)
    storage.set("balance:" .. to, balance(to) + amount) -- read after the debit: from == to works
    emit("transfer", from .. ":" .. to .. ":" .. amount)
    return true
end

local function balance_of(ctx, address)
    return balance(address_arg("balance_of", address))
end

local function total_supply(ctx)
    return storage.get("supply") or 0
end

return { [1] = mint, [2] = transfer, [3] = balance_of, [4] = total_supply }
