-- Run once when the interpreter is created, with the real globals table. Builds the sandbox
-- scripts see (Redis 7.0's): library tables and the globals are read-only (assigning, rawset,
-- setmetatable fail with "Attempt to modify a readonly table"), reading an undefined global
-- fails, binary chunks cannot be loaded. Returns the private table the server fills per run
-- (`raw`: the command bridge) and the read-only globals proxy scripts run in.
local G = _G
local rawget, rawset, setmetatable, getmetatable = rawget, rawset, setmetatable, getmetatable
local error, type, next, pairs, ipairs, tostring = error, type, next, pairs, ipairs, tostring
local loadstring, load, concat, xpcall, pcall = loadstring, load, table.concat, xpcall, pcall
local maxn = table.maxn

local private = {}
local readonly = setmetatable({}, { __mode = 'k' }) -- proxy -> real table

local function ro_error()
  error('Attempt to modify a readonly table', 2)
end

local function protect(real)
  local proxy = {}
  readonly[proxy] = real
  setmetatable(proxy, { __index = real, __newindex = ro_error, __metatable = false })
  return proxy
end

-- The functions that look inside tables see through the proxies.
G.pairs = function(t)
  local real = readonly[t]
  if real then
    return next, real, nil
  end
  return pairs(t)
end
G.ipairs = function(t)
  return ipairs(readonly[t] or t)
end
G.next = function(t, k)
  return next(readonly[t] or t, k)
end
G.rawget = function(t, k)
  return rawget(readonly[t] or t, k)
end
G.rawset = function(t, k, v)
  if readonly[t] then
    error('Attempt to modify a readonly table', 0)
  end
  return rawset(t, k, v)
end
G.setmetatable = function(t, mt)
  if readonly[t] then
    error('Attempt to modify a readonly table', 0)
  end
  return setmetatable(t, mt)
end

-- No bytecode: a crafted binary chunk can corrupt the interpreter.
local function text_only(s)
  if type(s) == 'string' and s:byte(1) == 27 then
    return nil, 'attempt to load a binary chunk'
  end
  return s
end
G.loadstring = function(s, name)
  local checked, err = text_only(s)
  if checked == nil and err then
    return nil, err
  end
  return loadstring(s, name)
end
G.load = function(f, name)
  local parts = {}
  if type(f) == 'string' then
    parts[1] = f
  else
    while true do
      local piece = f()
      if piece == nil or piece == '' then
        break
      end
      parts[#parts + 1] = piece
    end
  end
  local s = concat(parts)
  local checked, err = text_only(s)
  if checked == nil and err then
    return nil, err
  end
  return loadstring(s, name)
end

-- What Redis does not expose.
for _, name in ipairs({ 'print', 'dofile', 'loadfile', 'getfenv', 'setfenv', 'module',
  'require', 'newproxy', 'debug', 'os', 'io', 'package' }) do
  rawset(G, name, nil)
end

-- redis.call (set by the server for each run, a C function so that the script's own frame is
-- there when it raises) raises a failed command's error; xpcall's handler gets it as the
-- error table {err = ...}, pcall as its message (as Redis 7.0).
local unwrap = function(e)
  return private.unwrap(e)
end
local unpack = unpack
G.pcall = function(f, ...)
  local r = { pcall(f, ...) }
  if not r[1] then
    -- Redis 7.0 hands pcall the message of an error table, not the table.
    local e = unwrap(r[2])
    if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then
      e = rawget(e, 'err')
    end
    r[2] = e
  end
  return unpack(r, 1, maxn(r))
end
G.xpcall = function(f, h)
  return xpcall(f, function(e)
    return h(unwrap(e))
  end)
end

-- The string methods (("x"):upper()) keep working; the metatable is out of reach.
local smt = getmetatable('')
smt.__metatable = false

for _, name in ipairs({ 'redis', 'string', 'math', 'table', 'coroutine', 'bit', 'cjson',
  'cmsgpack', 'struct' }) do
  local lib = rawget(G, name)
  if lib ~= nil then
    rawset(G, name, protect(lib))
  end
end

-- Makes `t` read-only, reading through to `source`, where a missing name is an error (the
-- globals scripts see, a library's environment).
local function strict(t, source)
  setmetatable(t, {
    __index = function(_, k)
      local v = rawget(source, k)
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end,
    __newindex = ro_error,
    __metatable = false,
  })
  return t
end

-- A function library's environment (FUNCTION LOAD): `env` (whose `redis` is the load-time
-- API, replaced by the full one once loaded) over the read-only globals.
private.protect_env = function(env, load_redis)
  rawset(env, 'redis', strict({}, load_redis))
  return strict(env, G)
end

-- FCALL: the function and its arguments are put here by the server.
private.fcall = function()
  return private.fn(private.keys, private.args)
end

local globals = strict({}, G)
readonly[globals] = G
rawset(G, '_G', globals)
return private, globals
