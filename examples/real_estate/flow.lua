--[[
real_estate/flow.lua — STRATO Propiedades (Buenos Aires): qualifies a lead, shows
listings from the catalogue, schedules a visit and hands the lead to an agent.

  INICIO ─▶ OPERACION ─▶ ZONA ─▶ PRESUPUESTO ─▶ DORMITORIOS ─▶ RESULTADOS ─▶ VISITA ─▶ VISITA_AGENDADA
                │ "Vender mi propiedad"          (30 min idle: one reminder)    │ nothing found,
                ▼                                                               ▼
             DERIVADO (lead to the CRM) ◀───────────────────────────────────────────────┘
           "nueva búsqueda" from DERIVADO / VISITA_AGENDADA / RESULTADOS goes back to OPERACION

* Each question is its own state: enter asks, message validates and stores the answer
  in ctx.data or re-asks with an example. Parsing is tolerant: "2 dorm", "dos",
  "2-3", "2 o 3", "3 ambientes" (= 2 dormitorios in Argentina), "monoambiente";
  budgets "150 mil USD", "USD 150k", "600.000", "1,2 millones".
* RESULTADOS searches the catalogue (catalogo.lua, a Lua data module: see there why),
  shows up to three listings, each as a photo (media by link) and a location pin, and
  sends the qualified lead to the CRM as the event `lead.qualified` (ctx:emit). When
  nothing matches, it retries with 15 % more budget and one bedroom either side.
* VISITA offers times of the next two working days; VISITA_AGENDADA emits
  `visit.requested` for the CRM, where an agent confirms the visit (over the admin
  send API). The bot stays in charge at the end, so a customer who writes again is
  always answered ("Nueva búsqueda"); only asking for "asesor" / "humano" — at any
  point — pauses the bot with ctx:handoff until an agent resumes it.
]]

local catalogo = require("catalogo")

local HORAS_VISITA = { "10:00", "12:00", "16:00", "18:00" }

local ADVISOR = { asesor = true, asesora = true, agente = true, humano = true, persona = true,
                  vendedor = true, corredor = true }

local ACCENTS = { ["á"] = "a", ["é"] = "e", ["í"] = "i", ["ó"] = "o", ["ú"] = "u", ["ñ"] = "n",
                  ["Á"] = "a", ["É"] = "e", ["Í"] = "i", ["Ó"] = "o", ["Ú"] = "u", ["Ñ"] = "n" }

local function normalize(text)
  return (string.lower(text or ""):gsub("\195[\128-\191]", ACCENTS))
end

local function choice(msg)
  return (msg.button and msg.button.id) or (msg.list and msg.list.id)
end

local function wants_agent(msg)
  if choice(msg) == "asesor" then return true end
  for w in normalize(msg.text):gmatch("%a+") do
    if ADVISOR[w] then return true end
  end
  return false
end

local function wants_restart(msg)
  local t = normalize(msg.text)
  return choice(msg) == "nueva" or t:find("nueva busqueda") ~= nil or t:find("empezar de nuevo") ~= nil
      or t:find("^%s*reiniciar") ~= nil or t:find("^%s*menu%s*$") ~= nil or t:find("^%s*nueva%s*$") ~= nil
end

-- The CRM hears about leads through events (ctx:emit); an engine without it only logs.
local function emit(ctx, name, payload)
  if ctx.emit then return ctx:emit(name, payload) end
  ctx:log(name .. " (ctx:emit not available)")
end

local function operation_in(text)
  local n = normalize(text)
  if n:find("compr") then return "compra" end
  if n:find("alquil") or n:find("rent") then return "alquiler" end
  if n:find("vend") or n:find("tasa") then return "venta" end
  return nil
end

---------------------------------------------------------------------------------------
-- Parsers
---------------------------------------------------------------------------------------

-- "150 mil", "150.000", "USD 150k", "1,2 millones", "600 mil pesos" -> amount, currency|nil
local function parse_amount(text)
  local n = normalize(text)
  local currency
  if n:find("usd") or n:find("u$s") or n:find("dolar") or n:find("us%$") then currency = "USD"
  elseif n:find("peso") or n:find("ars") then currency = "ARS" end
  local token, rest = n:match("(%d[%d.,]*)%s*(.*)$")
  if not token then return nil end
  token = token:gsub("[.,]+$", "")
  local last = token:match(".*()[.,]")
  local value
  if not last then
    value = tonumber(token)
  elseif #token - last == 3 then                         -- "150.000": thousands
    value = tonumber((token:gsub("[.,]", "")))
  else                                                   -- "1,2": decimal
    value = tonumber(token:sub(1, last - 1):gsub("[.,]", "") .. "." .. token:sub(last + 1))
  end
  if not value then return nil end
  local unit = rest:match("^(%a+)")
  if unit == "mil" or unit == "k" then value = value * 1e3
  elseif unit == "millon" or unit == "millones" or unit == "m" then value = value * 1e6 end
  return math.floor(value + 0.5), currency
end

local NUMBER_WORDS = { un = "1", uno = "1", una = "1", dos = "2", tres = "3", cuatro = "4",
                       cinco = "5", seis = "6" }

-- "2", "2 dorm", "dos", "2-3", "2 o 3", "3 o más", "3 ambientes", "monoambiente"
-- -> min, max (nil when not understood).
local function parse_bedrooms(text)
  local n = normalize(text)
  if n:find("mono") or n:find("studio") then return 0, 0 end
  n = n:gsub("%a+", function(w) return NUMBER_WORDS[w] end)
  local a, b = n:match("(%d+)%s*[-/]%s*(%d+)")
  if not a then a, b = n:match("(%d+)%s+[aoy]%s+(%d+)") end
  a, b = tonumber(a), tonumber(b)
  if not a then
    a = tonumber(n:match("(%d+)") or "")
    if not a then return nil end
    if n:find("mas") or n:find("%+") or n:find("minimo") or n:find("al menos") then b = 10 else b = a end
  end
  if n:find("%f[%a]amb") then a, b = math.max(a - 1, 0), math.max(b - 1, 0) end   -- ambientes
  if a > b then a, b = b, a end
  if b > 10 then return nil end
  return a, b
end

local function thousands(n)
  local s = tostring(math.floor(n)):reverse():gsub("(%d%d%d)", "%1."):reverse()
  return (s:gsub("^%.", ""))
end

local function price_text(amount, currency, operacion)
  return (currency == "USD" and "USD " or "$ ") .. thousands(amount) ..
         (operacion == "alquiler" and " por mes" or "")
end

local function bedrooms_text(min, max)
  local function one(n) return n == 0 and "monoambiente" or (n .. (n == 1 and " dormitorio" or " dormitorios")) end
  if min == max then return one(min) end
  if max >= 10 then return min .. " o más dormitorios" end
  return min .. " a " .. max .. " dormitorios"
end

local function zones_text(ids)
  if #ids == 0 then return "cualquier zona" end
  local names = {}
  for _, id in ipairs(ids) do names[#names + 1] = catalogo.zona(id).nombre end
  return table.concat(names, ", ")
end

---------------------------------------------------------------------------------------
-- Handoff and reminders
---------------------------------------------------------------------------------------

local function agent_handoff(ctx, reason)
  ctx.data.handoff = true
  ctx:say("¡Claro! Un asesor te escribe por aquí en breve 🙌")
  return ctx:handoff(reason)
end

local function restart(ctx)
  ctx.data = {}
  return "OPERACION"
end

-- Runs first in every message handler: the bot is in charge again; "asesor" hands
-- over, "nueva búsqueda" / "empezar de nuevo" starts over. Returns true, state when the
-- message was one of those (the handler returns that state; nil = stay).
local function common(ctx, msg)
  ctx.data.handoff = nil
  ctx.data.recordado = nil
  if wants_agent(msg) then
    agent_handoff(ctx, "pidió asesor (" .. ctx.state .. ")")
    return true, nil
  end
  if wants_restart(msg) then return true, restart(ctx) end
  return false
end

-- The 30-minute silence reminder of every question, once per question.
local function reminder(ctx)
  if ctx.data.handoff or ctx.data.recordado then return end
  ctx.data.recordado = true
  ctx:say("¿Sigues por ahí? 🙂 Con un par de respuestas más te muestro propiedades.")
end

local QUESTION_TIMEOUT = { after = "30m", run = reminder }

local function ask_operation(ctx, text)
  ctx:buttons(text, {
    { id = "compra", title = "Comprar" },
    { id = "alquiler", title = "Alquilar" },
    { id = "venta", title = "Vender mi propiedad" },
  })
end

local function ask_bedrooms(ctx, text)
  ctx:buttons(text, {
    { id = "1", title = "1 dormitorio" },
    { id = "2", title = "2 dormitorios" },
    { id = "3", title = "3 o más" },
  })
end

---------------------------------------------------------------------------------------
-- Visit times: the next two working days (Monday to Saturday), local time
---------------------------------------------------------------------------------------

-- Visit times of the next two working days, in the flow's timezone: ctx:clock gives
-- the calendar day of "now + N days", ctx:format_date writes it in Spanish.
local function visit_options(ctx)
  local now_ms = math.floor(ctx:now() * 1000)
  local options, found, ahead = {}, 0, 0
  while found < 2 and ahead < 7 do
    ahead = ahead + 1
    local day = ctx:clock(nil, now_ms + ahead * 86400000)
    if day.wday ~= 7 then                                  -- 7 = domingo: no visits
      found = found + 1
      for _, h in ipairs(HORAS_VISITA) do
        local iso = string.format("%04d-%02d-%02dT%s", day.year, day.month, day.day, h)
        options[#options + 1] = {
          id = "v" .. (iso:gsub("%D", "")),
          corto = ctx:format_date(iso, "%a %-d/%-m · %R"),      -- mar 3/3 · 10:00
          largo = ctx:format_date(iso, "%A %-d/%-m a las %R"),  -- martes 3/3 a las 10:00
        }
      end
    end
  end
  return options
end

---------------------------------------------------------------------------------------
-- The flow
---------------------------------------------------------------------------------------

return {
  name = "real_estate",
  version = 2,
  initial = "INICIO",
  description = "STRATO Propiedades: califica el lead, muestra propiedades del catálogo con foto " ..
                "y ubicación, agenda una visita y pasa el lead al CRM y a un asesor.",
  fallback = "Perdón, tuve un problema 🙏 ¿Me lo escribes de nuevo?",
  double_text = { debounce_ms = 1500 },
  timezone = "America/Argentina/Buenos_Aires",     -- visit times are the agency's local time

  states = {
    INICIO = {
      enter = function(ctx)
        local name = type(ctx.name) == "string" and ctx.name:match("^(%S+)") or nil
        ctx:say(string.format("¡Hola%s! 🏠 Soy el asistente de *STRATO Propiedades*. " ..
          "Con 4 preguntas te muestro propiedades a tu medida y coordinamos una visita.",
          name and (" " .. name) or ""))
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        local op = operation_in(msg.text)     -- "quiero alquilar en Palermo" skips a question
        if op == "venta" then
          ctx.data.operacion = op
          return "DERIVADO"
        elseif op then
          ctx.data.operacion = op
          local zonas = catalogo.zonas_en(normalize(msg.text))
          if #zonas > 0 then
            ctx.data.zonas = zonas
            return "PRESUPUESTO"
          end
          return "ZONA"
        end
        return "OPERACION"
      end,
    },

    OPERACION = {
      enter = function(ctx) ask_operation(ctx, "¿Qué estás buscando?") end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        local op = choice(msg) or operation_in(msg.text)
        if op == "venta" then
          ctx.data.operacion = "venta"
          return "DERIVADO"
        elseif op == "compra" or op == "alquiler" then
          ctx.data.operacion = op
          return "ZONA"
        end
        ask_operation(ctx, "Elige una opción para seguir 👇")
      end,
      timeout = QUESTION_TIMEOUT,
    },

    ZONA = {
      enter = function(ctx)
        ctx:say("¿En qué zona o barrio? Puedes nombrar varios (ej.: Palermo, Belgrano o Núñez), " ..
                "o escribir *cualquiera*.")
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        local text = normalize(msg.text)
        local zonas = catalogo.zonas_en(text)
        if #zonas == 0 and not (text:find("cualquier") or text:find("indistinto") or text:find("me da igual")) then
          local names = {}
          for _, z in ipairs(catalogo.ZONAS) do names[#names + 1] = z.nombre end
          return ctx:say("Hoy trabajamos en " .. table.concat(names, ", ") .. ". ¿Cuál te interesa? " ..
                         "(o escribe *cualquiera*)")
        end
        ctx.data.zonas = zonas
        return "PRESUPUESTO"
      end,
      timeout = QUESTION_TIMEOUT,
    },

    PRESUPUESTO = {
      enter = function(ctx)
        if ctx.data.operacion == "alquiler" then
          ctx:say("¿Cuánto quieres pagar de alquiler por mes, aprox.? (ej.: 800 mil pesos)")
        else
          ctx:say("¿Cuál es tu presupuesto aproximado en dólares? (ej.: 150 mil USD)")
        end
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        local amount, currency = parse_amount(msg.text or "")
        if not amount or amount < 100 then
          return ctx:say("No entendí el monto 🤔 Escríbelo con números, por ejemplo: " ..
            (ctx.data.operacion == "alquiler" and "800 mil" or "150 mil USD"))
        end
        ctx.data.presupuesto = amount
        ctx.data.moneda = currency or (ctx.data.operacion == "alquiler" and "ARS" or "USD")
        return "DORMITORIOS"
      end,
      timeout = QUESTION_TIMEOUT,
    },

    DORMITORIOS = {
      enter = function(ctx)
        ask_bedrooms(ctx, "¿Cuántos dormitorios necesitas? Puedes escribir un rango (ej.: 2-3) " ..
                          "o *monoambiente*.")
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        local id = choice(msg)
        local min, max
        if id == "3" then min, max = 3, 10
        elseif id then min, max = parse_bedrooms(id)
        else min, max = parse_bedrooms(msg.text) end
        if not min then
          return ask_bedrooms(ctx, "No entendí 🤔 Escríbeme cuántos dormitorios, por ejemplo: 2, " ..
                                   "dos o 2-3 (o toca una opción).")
        end
        ctx.data.dorm_min, ctx.data.dorm_max = min, max
        return "RESULTADOS"
      end,
      timeout = QUESTION_TIMEOUT,
    },

    RESULTADOS = {
      enter = function(ctx)
        local d = ctx.data
        local search = { operacion = d.operacion, zonas = d.zonas or {}, presupuesto = d.presupuesto,
                         dorm_min = d.dorm_min, dorm_max = d.dorm_max }
        local found = catalogo.buscar(search, 3)
        local relaxed = false
        if #found == 0 then
          found = catalogo.buscar(search, 3, 0.15)
          relaxed = #found > 0
        end
        local summary = string.format("%s en %s, hasta %s, %s",
          d.operacion == "compra" and "Compra" or "Alquiler", zones_text(d.zonas or {}),
          price_text(d.presupuesto, d.moneda, d.operacion), bedrooms_text(d.dorm_min, d.dorm_max))
        d.resumen = summary
        d.mostradas = {}
        for i, p in ipairs(found) do d.mostradas[i] = p.id end
        emit(ctx, "lead.qualified", {
          telefono = ctx.phone, nombre = ctx.name, operacion = d.operacion,
          zona = zones_text(d.zonas or {}), presupuesto = d.presupuesto, moneda = d.moneda,
          dormitorios_min = d.dorm_min, dormitorios_max = d.dorm_max, propiedades = d.mostradas,
        })
        ctx:log("lead calificado: " .. summary)
        if #found == 0 then
          ctx:say("Buscaste: " .. summary .. ".\n\nHoy no tengo propiedades publicadas que encajen 😕 " ..
                  "Un asesor te va a escribir con opciones que aún no publicamos.")
          return "DERIVADO"
        end
        ctx:say((relaxed and "No encontré exactamente eso, pero estas se acercan mucho 👇"
                          or "¡Tengo " .. #found .. (#found == 1 and " propiedad" or " propiedades") ..
                             " para ti! 👇") .. "\n(" .. summary .. ")")
        local rows = {}
        for _, p in ipairs(found) do
          ctx:media("image", { link = p.foto, caption = string.format("*%s*\n%s · %d m² · %s\n📍 %s\nCódigo %s",
            p.titulo, price_text(p.precio, p.moneda, p.operacion), p.m2, bedrooms_text(p.dormitorios, p.dormitorios),
            p.direccion, p.id) })
          ctx:location{ latitude = p.lat, longitude = p.lon, name = p.titulo, address = p.direccion }
          rows[#rows + 1] = { id = p.id, title = "Visitar " .. p.id,
                              description = p.titulo }
        end
        rows[#rows + 1] = { id = "nueva", title = "Nueva búsqueda" }
        rows[#rows + 1] = { id = "asesor", title = "Hablar con un asesor" }
        ctx:list("¿Quieres visitar alguna? Elige una y coordinamos el día 🗓️", "Elegir", rows)
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        local id = choice(msg)
        local text = normalize(msg.text)
        local shown = ctx.data.mostradas or {}
        if not id then
          local n = tonumber(text:match("^%s*(%d)%s*$") or "")
          if n and shown[n] then id = shown[n] end
          for _, pid in ipairs(shown) do
            if text:find(pid:lower(), 1, true) then id = pid end
          end
        end
        for _, pid in ipairs(shown) do
          if pid == id then
            ctx.data.visita_prop = pid
            return "VISITA"
          end
        end
        ctx:buttons("Elige una propiedad de la lista (toca *Elegir*), o escribe el código, " ..
                    "por ejemplo " .. (shown[1] or "PAL-101") .. " 🙂", {
          { id = "nueva", title = "Nueva búsqueda" },
          { id = "asesor", title = "Hablar con un asesor" },
        })
      end,
    },

    VISITA = {
      enter = function(ctx)
        local p = catalogo.propiedad(ctx.data.visita_prop or "")
        if not p then return "RESULTADOS" end
        local options = visit_options(ctx)
        ctx.data.opciones = options
        local rows = {}
        for _, o in ipairs(options) do rows[#rows + 1] = { id = o.id, title = o.corto } end
        rows[#rows + 1] = { id = "otro", title = "Otro día u hora" }
        ctx:list("¿Cuándo quieres visitar *" .. p.titulo .. "*?", "Ver horarios", rows)
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        local id = choice(msg)
        local text = normalize(msg.text)
        if id == "otro" or (not id and text:find("otro")) then
          ctx.data.visita = { prop = ctx.data.visita_prop, horario = "a coordinar" }
          return "VISITA_AGENDADA"
        end
        local options = ctx.data.opciones or {}
        if not id then
          local n = tonumber(text:match("^%s*(%d+)%s*$") or "")
          if n and options[n] then id = options[n].id end
        end
        for _, o in ipairs(options) do
          if o.id == id then
            ctx.data.visita = { prop = ctx.data.visita_prop, horario = o.largo }
            return "VISITA_AGENDADA"
          end
        end
        ctx:say("Elige un horario de la lista (toca *Ver horarios*) o escribe *otro* 🙂")
      end,
    },

    VISITA_AGENDADA = {
      enter = function(ctx)
        local v = ctx.data.visita
        local p = catalogo.propiedad(v.prop)
        emit(ctx, "visit.requested", { telefono = ctx.phone, nombre = ctx.name, propiedad = v.prop,
                                       horario = v.horario, busqueda = ctx.data.resumen })
        ctx:say("📅 ¡Anotado! Visita a *" .. p.titulo .. "* (" .. p.direccion .. "), " .. v.horario ..
                ".\nUn asesor te confirma por aquí en breve 🙌")
      end,
      message = function(ctx, msg)
        if wants_restart(msg) then return restart(ctx) end   -- the way out, for check and graph
        local handled, state = common(ctx, msg)
        if handled then return state end
        ctx:buttons("Tu visita (" .. ctx.data.visita.prop .. ", " .. ctx.data.visita.horario ..
                    ") ya está con un asesor, te escribirá pronto 🙂", {
          { id = "nueva", title = "Nueva búsqueda" },
          { id = "asesor", title = "Hablar con un asesor" },
        })
      end,
    },

    DERIVADO = {
      enter = function(ctx)
        if ctx.data.operacion == "venta" then
          emit(ctx, "lead.qualified", { telefono = ctx.phone, nombre = ctx.name, operacion = "venta" })
          ctx:say("¡Excelente! Un asesor de captación te escribirá por aquí para coordinar " ..
                  "una tasación sin cargo 🏡")
        end
      end,
      message = function(ctx, msg)
        if wants_restart(msg) then return restart(ctx) end   -- the way out, for check and graph
        local handled, state = common(ctx, msg)
        if handled then return state end
        ctx:buttons("Ya le pasé tus datos a un asesor, te escribirá pronto 🙂", {
          { id = "nueva", title = "Nueva búsqueda" },
          { id = "asesor", title = "Hablar con un asesor" },
        })
      end,
    },
  },
}
