-- registry.lua: a name registry. The first caller to register a name owns
-- it; only its owner can hand it on.
--
--   selector 1  register(name)             the caller becomes the name's owner;
--                                          an error when the name is taken;
--                                          returns true (the word 1)
--   selector 2  owner_of(name)             returns the owner's address (a 32-hex
--                                          string) or nothing when unregistered
--   selector 3  transfer(name, new_owner)  owner only: makes new_owner (32 or 40
--                                          hex digits) the owner; returns true
--
-- A name is a string of 1 to 64 bytes. Storage: "name:<name>" = owner.

local function name_arg(what, name)
    if type(name) ~= "string" or #name == 0 or #name > 64 then
        error(what .. ": the name must be a string of 1 to 64 bytes")
    end
    return "name:" .. name
end

local function address_arg(what, address)
    if type(address) ~= "string" or (#address ~= 32 and #address ~= 40)
        or string.find(address, "[^0-9a-fA-F]") then
        error(what .. ": the new owner must be 32 or 40 hex digits")
    end
    return string.lower(address)
end

local function register(ctx, name)
    local key = name_arg("register", name)
    if storage.get(key) ~= nil then
        error("register: the name is taken")
    end
    storage.set(key, ctx.sender)
    emit("register", name)
    return true
end

local function owner_of(ctx, name)
    return storage.get(name_arg("owner_of", name))
end

local function transfer(ctx, name, new_owner)
    local key = name_arg("transfer", name)
    new_owner = address_arg("transfer", new_owner)
    local owner = storage.get(key)
    if owner == nil then
        error("transfer: the name is not registered")
    elseif owner ~= ctx.sender then
        error("transfer: only the owner can transfer the name")
    end
    storage.set(key, new_owner)
    emit("transfer", name .. ":" .. new_owner)
    return true
end

return { [1] = register, [2] = owner_of, [3] = transfer }
