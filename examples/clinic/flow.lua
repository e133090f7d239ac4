--[[
clinic/flow.lua — "AURA", the virtual receptionist of an aesthetics clinic (Chile, CLP).

  INICIO ─▶ SERVICIO (list with prices) ─▶ HORARIO (list of slots) ─▶ CONFIRMAR ─▶ AGENDADA
              ▲                               ▲   └ "Otro horario": handoff      │ Confirmar:
              └─── "Cambiar servicio" ────────┴──── "Cambiar horario" ◀──────────┘ handoff
                                                 (20 min without an answer: slot released)

One state per step (compare flows/insurance.lua, which keeps four questions in one
state). Slots are computed from ctx:now() — there is no os.date in the sandbox, so
the calendar arithmetic is done by hand in `civil_date`. A real clinic would read
free slots from its agenda (e.g. through an http plugin) instead of `slot_options`.
Confirming hands the conversation to a human receptionist (ctx:handoff), who books
the slot in the clinic's system and answers from there.
]]

local UTC_OFFSET_HOURS = -4          -- clinic's local time (America/Santiago, winter)
local SLOT_TIMES = { { 11, 30 }, { 15, 0 }, { 18, 0 } }
local DAYS = { "Dom", "Lun", "Mar", "Mié", "Jue", "Vie", "Sáb" }

local SERVICES = {
  { id = "depilacion", title = "Depilación láser", price = "desde $29.990",
    detail = "sesión por zona, 30 min", keys = { "depila", "laser" } },
  { id = "facial", title = "Tratamiento facial", price = "desde $45.000",
    detail = "limpieza profunda e hidratación, 60 min", keys = { "facial", "limpieza" } },
  { id = "peeling", title = "Peeling químico", price = "$55.000", detail = "45 min",
    keys = { "peeling", "quimico" } },
  { id = "radiofrecuencia", title = "Radiofrecuencia", price = "desde $39.990",
    detail = "reafirmante facial o corporal, 40 min", keys = { "radiofrec", "reafirm" } },
  { id = "evaluacion", title = "Consulta de evaluación", price = "gratis",
    detail = "con nuestra especialista, 20 min", keys = { "consulta", "evaluacion" } },
}

local function find_service(id)
  for _, s in ipairs(SERVICES) do
    if s.id == id then return s end
  end
  return nil
end

local function normalize(text)
  local accents = { ["á"] = "a", ["é"] = "e", ["í"] = "i", ["ó"] = "o", ["ú"] = "u", ["ñ"] = "n",
                    ["Á"] = "a", ["É"] = "e", ["Í"] = "i", ["Ó"] = "o", ["Ú"] = "u" }
  return (string.lower(text or ""):gsub("\195[\128-\191]", accents))
end

-- A service picked from the list (msg.list.id) or named in a typed message.
local function match_service(msg)
  local id = msg.list and msg.list.id
  if id then return find_service(id) end
  local text = normalize(msg.text)
  for _, s in ipairs(SERVICES) do
    for _, key in ipairs(s.keys) do
      if text:find(key, 1, true) then return s end
    end
  end
  return nil
end

-- Days since 1970-01-01 -> year, month, day (proleptic Gregorian; H. Hinnant's algorithm).
local function civil_date(days)
  local z = days + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

-- The slots of the next two working days (Monday to Saturday), in local time.
local function slot_options(now)
  local offset = UTC_OFFSET_HOURS * 3600
  local day = (math.floor(now) + offset) // 86400     -- today, local
  local slots, days_found = {}, 0
  while days_found < 2 do
    day = day + 1
    local weekday = (day + 4) % 7                      -- 1970-01-01 was a Thursday
    if weekday ~= 0 then
      days_found = days_found + 1
      local _, month, dom = civil_date(day)
      for _, t in ipairs(SLOT_TIMES) do
        slots[#slots + 1] = {
          id = "slot" .. (#slots + 1),
          label = string.format("%s %d/%d · %02d:%02d", DAYS[weekday + 1], dom, month, t[1], t[2]),
          at = day * 86400 + t[1] * 3600 + t[2] * 60 - offset,   -- unix seconds, UTC
        }
      end
    end
  end
  return slots
end

local function show_services(ctx, intro)
  local rows = {}
  for _, s in ipairs(SERVICES) do
    rows[#rows + 1] = { id = s.id, title = s.title, description = s.price .. " · " .. s.detail }
  end
  ctx:list(intro, "Ver servicios", { { title = "Servicios", rows = rows } })
end

return {
  name = "clinic",
  version = 1,
  initial = "INICIO",
  description = "AURA: recepcionista de clínica estética (servicio, horario, confirmación).",
  fallback = "Lo siento, tuve un problema 🙏 ¿Puedes escribirme de nuevo?",
  double_text = { debounce_ms = 1500 },

  states = {
    INICIO = {
      enter = function(ctx)
        local name = ctx.name and ctx.name:match("^(%S+)")
        ctx:say(string.format("¡Hola%s! ✨ Soy AURA, la recepcionista virtual de Clínica Aura. " ..
          "Te ayudo a conocer nuestros servicios y agendar tu hora.", name and (" " .. name) or ""))
      end,
      message = function(ctx, msg)
        local service = match_service(msg)     -- "hola, quiero depilación" skips the menu
        if service then
          ctx.data.service = service.id
          return "HORARIO"
        end
        return "SERVICIO"
      end,
    },

    SERVICIO = {
      enter = function(ctx)
        ctx.data.service, ctx.data.slot, ctx.data.slots = nil, nil, nil
        show_services(ctx, "¿Qué servicio te interesa? Toca *Ver servicios* para ver precios 👇")
      end,
      message = function(ctx, msg)
        local service = match_service(msg)
        if service then
          ctx.data.service = service.id
          return "HORARIO"
        end
        local text = normalize(msg.text)
        if text:find("humano") or text:find("recepcion") or text:find("persona") then
          ctx:say("Te comunico con recepción, te escriben en unos minutos 🙌")
          return ctx:handoff("pidió recepción")
        end
        show_services(ctx, "Los precios están en la lista 👇 Toca *Ver servicios* y elige uno " ..
                           "para ver horarios disponibles.")
      end,
    },

    HORARIO = {
      enter = function(ctx)
        local service = find_service(ctx.data.service)
        if not service then return "SERVICIO" end
        local slots = slot_options(ctx:now())
        ctx.data.slots = slots
        local rows = {}
        for _, s in ipairs(slots) do rows[#rows + 1] = { id = s.id, title = s.label } end
        rows[#rows + 1] = { id = "otro", title = "Otro horario", description = "Te ayuda recepción" }
        rows[#rows + 1] = { id = "servicio", title = "Cambiar servicio" }
        ctx:list(string.format("*%s* (%s). Tengo estos horarios disponibles:",
          service.title, service.price), "Ver horarios", rows)
      end,
      message = function(ctx, msg)
        local id = msg.list and msg.list.id
        local text = normalize(msg.text)
        local slots = ctx.data.slots or {}
        if not id then
          local n = tonumber(text:match("^%s*(%d+)%s*$") or "")
          if n and slots[n] then id = slots[n].id end
          if text:find("otro") then id = "otro" end
          if text:find("servicio") then id = "servicio" end
        end
        if id == "servicio" then return "SERVICIO" end
        if id == "otro" then
          ctx:say("¡Claro! Recepción te escribirá para buscar un horario que te acomode 🙌")
          return ctx:handoff("busca otro horario: " .. find_service(ctx.data.service).title)
        end
        for _, slot in ipairs(slots) do
          if slot.id == id then
            ctx.data.slot = slot
            return "CONFIRMAR"
          end
        end
        ctx:say("Elige un horario de la lista (toca *Ver horarios*) 🙂")
      end,
    },

    CONFIRMAR = {
      enter = function(ctx)
        local service = find_service(ctx.data.service)
        if not (service and ctx.data.slot) then return "SERVICIO" end
        ctx:buttons(string.format("¿Confirmo tu hora?\n\n💆 %s (%s)\n📅 %s\n📍 Av. Providencia 1234, Santiago",
          service.title, service.price, ctx.data.slot.label), {
          { id = "confirmar", title = "Confirmar" },
          { id = "cambiar", title = "Cambiar horario" },
          { id = "cancelar", title = "Cancelar" },
        })
        ctx:after("20m", "liberar")            -- hold the slot for 20 minutes
      end,
      leave = function(ctx)
        ctx:cancel("liberar")
      end,
      message = function(ctx, msg)
        local id = msg.button and msg.button.id
        local text = normalize(msg.text)
        if id == "confirmar" or (not id and (text:find("confirm") or text:match("^%s*si%f[%A]"))) then
          return "AGENDADA"
        elseif id == "cambiar" or (not id and text:find("cambi")) then
          return "HORARIO"
        elseif id == "cancelar" or (not id and text:find("cancel")) then
          ctx:say("Sin problema, no agendé nada. Escríbeme cuando quieras 🙂")
          return "SERVICIO"
        end
        ctx:buttons("¿Confirmamos esta hora?", {
          { id = "confirmar", title = "Confirmar" },
          { id = "cambiar", title = "Cambiar horario" },
        })
      end,
      timers = {
        liberar = function(ctx)
          ctx:say("Liberé el horario " .. ctx.data.slot.label .. " porque no alcanzamos a " ..
                  "confirmarlo. Cuando quieras, elige otro 👇")
          return "HORARIO"
        end,
      },
    },

    AGENDADA = {
      final = true,   -- reception takes over from here
      enter = function(ctx)
        local service = find_service(ctx.data.service)
        ctx.data.requested_at = ctx:now()
        ctx:say(string.format("✅ ¡Listo! Reservé *%s* el *%s*.\n" ..
          "Recepción confirmará tu hora en la agenda y te escribirá por aquí. " ..
          "Llega 10 minutos antes, por favor 🙏", service.title, ctx.data.slot.label))
        ctx:log("cita solicitada " .. service.id .. " " .. ctx.data.slot.label)
        ctx:handoff("confirmar cita: " .. service.title .. " " .. ctx.data.slot.label)
      end,
      message = function(ctx)
        ctx:say("Tu solicitud ya está con recepción; te responderán por aquí en breve 🙌")
      end,
    },
  },
}
