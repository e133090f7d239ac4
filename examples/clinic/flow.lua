--[[
clinic/flow.lua — "AURA", the virtual receptionist of an aesthetics clinic (Santiago, CLP).

  INICIO ─▶ ESPECIALIDAD (list) ─▶ SERVICIO (list, prices) ─▶ HORARIO ─▶ CONFIRMAR ─▶ AGENDADA
                ▲                                               ▲  │        │ POST fails with 409
                │                                               │  └ agenda down: retry / recepción
                └──────────── cancelar ─────────── AGENDADA ────┴── reprogramar / slot taken

* Free slots come from the clinic's agenda over HTTP (GET {agenda}/slots/<service>),
  and booking is a real POST {agenda}/bookings that may answer 409 when someone took
  the slot meanwhile: the customer then gets the remaining slots. The agenda's base
  URL is the setting `agenda_url` (config `flows` settings, read as ctx.settings);
  examples/clinic/agenda_server.py is a fake agenda for local use.
* Dates are formatted with ctx:format_date in the flow's `timezone`; "are we open?" is
  ctx:is_open() against `open_hours` (ctx:hours_text() says them).
* AGENDADA confirms with the date in the clinic's local time, in Spanish, and sets a
  durable reminder 24 h before the appointment. If the customer's 24 h WhatsApp window
  has closed by then, the reminder is the approved template `recordatorio_cita`.
* At any point: "humano"/"recepción" hands over (outside opening hours the customer is
  told when reception answers), "horario" gives the opening hours, "menú" starts over,
  "cancelar"/"reprogramar" act on the booked appointment.
* Everything about one customer lives in ctx.data: especialidad, servicio, slots, slot,
  cita = { id, servicio, start }, reprograma (the booking being replaced), last_in.
]]

local catalogo = require("servicios")

local AGENDA_POR_DEFECTO = "http://127.0.0.1:8765"
local DIRECCION = "Av. Providencia 1234, Providencia, Santiago"
local REMINDER_BEFORE_S = 24 * 3600
local MAX_SLOTS = 8          -- + "Otro horario" + "Cambiar servicio" = 10 rows, WhatsApp's maximum

local ACCENTS = { ["á"] = "a", ["é"] = "e", ["í"] = "i", ["ó"] = "o", ["ú"] = "u", ["ñ"] = "n",
                  ["Á"] = "a", ["É"] = "e", ["Í"] = "i", ["Ó"] = "o", ["Ú"] = "u", ["Ñ"] = "n" }

local function normalize(text)
  return (string.lower(text or ""):gsub("\195[\128-\191]", ACCENTS))
end

local function first_name(ctx)
  return type(ctx.name) == "string" and ctx.name:match("^(%S+)") or nil
end

local function setting(ctx, key, default)
  local s = ctx.settings
  if type(s) == "table" and s[key] ~= nil then return s[key] end
  return default
end

local function agenda(ctx, path)
  return setting(ctx, "agenda_url", AGENDA_POR_DEFECTO) .. path
end

-- Dates of the agenda ("2026-03-04T10:00:00-03:00") in the clinic's time zone, in Spanish.
local function long_date(ctx, iso) return ctx:format_date(iso, "%A %-d de %B a las %R") end   -- miércoles 4 de marzo a las 10:00
local function short_date(ctx, iso) return ctx:format_date(iso, "%a %-d %b · %R") end         -- mié 4 mar · 10:00 (a list row)

-- The id of a tapped button or list row, or nil.
local function choice(msg)
  return (msg.button and msg.button.id) or (msg.list and msg.list.id)
end

---------------------------------------------------------------------------------------
-- The agenda (HTTP)
---------------------------------------------------------------------------------------

-- A call that never raises: the response table, or nil and a reason for the log.
local function call_agenda(ctx, args)
  if not ctx.http then return nil, "the http plugin is not configured" end
  local ok, res, err = pcall(ctx.http, ctx, args)
  if not ok then return nil, tostring(res) end
  if not res then return nil, tostring(err and err.code) .. " " .. tostring(err and err.message) end
  return res
end

-- The free slots of a service: { {id=, start=}, ... } in the agenda's order, or nil.
local function fetch_slots(ctx, service_id)
  local res, why = call_agenda(ctx, { url = agenda(ctx, "/slots/" .. service_id), timeout = "5s" })
  if not res or res.status ~= 200 or type(res.json) ~= "table" or type(res.json.slots) ~= "table" then
    ctx:log("agenda: no slots for " .. service_id .. ": " .. tostring(why or (res and res.status)))
    return nil
  end
  local slots = {}
  for _, s in ipairs(res.json.slots) do
    if type(s) == "table" and type(s.id) == "string" and type(s.start) == "string" and ctx:parse_date(s.start) then
      slots[#slots + 1] = { id = s.id, start = s.start }
      if #slots == MAX_SLOTS then break end
    end
  end
  return slots
end

-- Books ctx.data.slot: "ok" (ctx.data.cita set), "taken" or "error".
local function book(ctx)
  local d = ctx.data
  local res, why = call_agenda(ctx, { method = "POST", url = agenda(ctx, "/bookings"), timeout = "5s",
    json = { slot = d.slot.id, service = d.servicio, phone = ctx.phone, name = ctx.name } })
  if res and (res.status == 200 or res.status == 201) and type(res.json) == "table"
      and type(res.json.id) == "string" then
    d.cita = { id = res.json.id, servicio = d.servicio, start = res.json.start or d.slot.start }
    return "ok"
  end
  if res and res.status == 409 then return "taken" end
  ctx:log("agenda: booking failed: " .. tostring(why or (res and res.status)))
  return "error"
end

-- Cancels a booking at the agenda; true when the agenda confirmed it (or never knew it).
local function cancel_booking(ctx, id)
  local res, why = call_agenda(ctx, { method = "POST", url = agenda(ctx, "/bookings/" .. id .. "/cancel"),
                                      timeout = "5s" })
  if res and (res.status == 200 or res.status == 404) then return true end
  ctx:log("agenda: cancel " .. id .. " failed: " .. tostring(why or (res and res.status)))
  return false
end

local function appointment_text(ctx, cita)
  local s = catalogo.servicio(cita.servicio)
  return string.format("*%s* el *%s*", s and s.titulo or cita.servicio, long_date(ctx, cita.start))
end

local function appointment_buttons(ctx, text)
  ctx:buttons(text, {
    { id = "cita_reprogramar", title = "Reprogramar" },
    { id = "cita_cancelar", title = "Cancelar cita" },
    { id = "recepcion", title = "Hablar con recepción" },
  })
end

---------------------------------------------------------------------------------------
-- What a customer may say in any state
---------------------------------------------------------------------------------------

local function command(msg)
  if choice(msg) == "recepcion" then return "humano" end
  local t = normalize(msg.text)
  if t:find("humano") or t:find("recepcion") or t:find("persona") or t:find("hablar con") then
    return "humano"
  end
  if t:find("^%s*menu") or t:find("empezar de nuevo") or t:find("reiniciar")
      or t:find("^%s*inicio%s*$") then
    return "menu"
  end
  if t:find("horario de atencion") or t:find("a que hora abren") or t:find("cuando abren")
      or t:find("^%s*horarios?%s*$") then
    return "horario"
  end
  return nil
end

local function handoff(ctx, reason)
  ctx.data.handoff = true
  if ctx:is_open() then
    ctx:say("Te comunico con recepción; te escriben por aquí en unos minutos 🙌")
  else
    ctx:say("Te comunico con recepción 🙌 Ahora estamos fuera de horario (" ..
            ctx:hours_text() .. "); te escribirán apenas abramos.")
  end
  return ctx:handoff(reason)
end

-- What the customer asked about the booked appointment (buttons cita_* of the
-- confirmation and the reminder, or typed): the next state, nil to stay.
local function appointment_action(ctx, action)
  local d = ctx.data
  if action == "cancelar" then
    if not cancel_booking(ctx, d.cita.id) then
      handoff(ctx, "cancelar cita " .. d.cita.id .. " (la agenda no respondió)")
      return nil
    end
    ctx:cancel("recordatorio")
    ctx:say("Cancelé tu cita de " .. appointment_text(ctx, d.cita) .. ". Si quieres otra hora, " ..
            "elige una especialidad 👇")
    d.cita, d.reprograma = nil, nil
    return "ESPECIALIDAD"
  elseif action == "reprogramar" then
    d.reprograma = d.cita.id
    d.servicio = d.cita.servicio
    return "HORARIO"
  end
  ctx:say("¡Gracias! Te esperamos el " .. appointment_text(ctx, d.cita) .. " 💆")
  return nil
end

-- "cancelar mi cita", "quiero reprogramar" (in AGENDADA "cancelar" alone is enough).
local function typed_action(ctx, msg)
  local t = normalize(msg.text)
  if not (t:find("cita") or ctx.state == "AGENDADA") then return nil end
  if t:find("cancel") or t:find("anular") then return "cancelar" end
  if t:find("reprogram") or t:find("cambiar") or t:find("mover") then return "reprogramar" end
  if t:find("asistir") or t:find("confirmo") then return "asistire" end
  return nil
end

-- The appointment action a message asks for (a cita_* button of the confirmation or
-- the reminder, or typed), or nil. Not while confirming a new hour ("cancelar" there
-- drops the new hour, not the booked one).
local function appointment_choice(ctx, msg)
  if not ctx.data.cita or ctx.state == "CONFIRMAR" then return nil end
  local id = choice(msg)
  if id and id:match("^cita_") then return id:sub(6) end
  return typed_action(ctx, msg)
end

-- Runs at the top of every message handler. Returns true, state when the message was a
-- command (the handler returns that state; nil = stay).
local function common(ctx, msg)
  ctx.data.last_in = math.floor(ctx:now())
  ctx.data.handoff = nil                    -- a message the bot handles: the bot is back
  local action = appointment_choice(ctx, msg)
  if action then return true, appointment_action(ctx, action) end
  local cmd = command(msg)
  if cmd == "humano" then
    handoff(ctx, "pidió recepción (" .. ctx.state .. ")")
    return true, nil
  elseif cmd == "horario" then
    ctx:say("Atendemos " .. ctx:hours_text() .. " 🕘 Por aquí puedes agendar a cualquier hora.")
    return true, nil
  elseif cmd == "menu" then
    ctx.data.especialidad, ctx.data.servicio, ctx.data.slots, ctx.data.slot = nil, nil, nil, nil
    ctx.data.reprograma = nil
    return true, "ESPECIALIDAD"
  end
  return false
end

local function not_text(msg)
  return msg.text == nil and choice(msg) == nil
end

---------------------------------------------------------------------------------------
-- Lists
---------------------------------------------------------------------------------------

local function show_specialties(ctx, intro)
  local rows = {}
  for _, e in ipairs(catalogo.ESPECIALIDADES) do
    local desde = catalogo.desde(e)
    rows[#rows + 1] = { id = e.id, title = e.titulo,
      description = (desde == 0 and "gratis" or "desde " .. catalogo.precio(desde)) ..
                    " · " .. #e.servicios .. (#e.servicios == 1 and " servicio" or " servicios") }
  end
  ctx:list(intro, "Ver especialidades", rows)
end

local function show_services(ctx, e, intro)
  local rows = {}
  for _, s in ipairs(e.servicios) do
    rows[#rows + 1] = { id = s.id, title = s.titulo,
                        description = catalogo.precio(s.precio) .. " · " .. s.minutos .. " min" }
  end
  rows[#rows + 1] = { id = "volver", title = "Otra especialidad" }
  ctx:list(intro, "Ver servicios", rows)
end

-- The service picked from a list or named in the text; sets ctx.data.servicio.
local function take_service(ctx, msg)
  local id = choice(msg)
  local s, e
  if id then s, e = catalogo.servicio(id)          -- a tap: its id, never its title's words
  else s, e = catalogo.buscar_servicio(normalize(msg.text)) end
  if not s then return false end
  ctx.data.especialidad, ctx.data.servicio = e.id, s.id
  return true
end

---------------------------------------------------------------------------------------
-- The flow
---------------------------------------------------------------------------------------

return {
  name = "clinic",
  version = 2,
  initial = "INICIO",
  description = "AURA: recepcionista de clínica estética (especialidad, servicio, agenda por HTTP, " ..
                "reserva, recordatorio, cancelación y reprogramación).",
  fallback = "Lo siento, tuve un problema 🙏 ¿Puedes escribirme de nuevo?",
  double_text = { debounce_ms = 1500 },
  timezone = "America/Santiago",          -- dates and opening hours are the clinic's local time
  open_hours = { mon_fri = "09:00-19:00", sat = "10:00-14:00" },

  states = {
    INICIO = {
      enter = function(ctx)
        local name = first_name(ctx)
        local text = string.format("¡Hola%s! ✨ Soy AURA, la recepcionista virtual de Clínica Aura. " ..
          "Te ayudo a conocer nuestros servicios y a agendar tu hora.", name and (" " .. name) or "")
        if not ctx:is_open() then
          text = text .. "\n\nAhora estamos fuera de horario (atendemos " .. ctx:hours_text() ..
                 "), pero puedo agendarte de inmediato 🙂"
        end
        ctx:say(text)
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        if take_service(ctx, msg) then return "HORARIO" end   -- "quiero depilarme las axilas"
        local e = catalogo.buscar_especialidad(normalize(msg.text))
        if e then
          ctx.data.especialidad = e.id
          return "SERVICIO"
        end
        return "ESPECIALIDAD"
      end,
    },

    ESPECIALIDAD = {
      enter = function(ctx)
        show_specialties(ctx, "¿Qué especialidad te interesa? Toca *Ver especialidades* 👇")
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        if take_service(ctx, msg) then return "HORARIO" end
        local id = choice(msg)
        local e = id and catalogo.especialidad(id) or (not id and catalogo.buscar_especialidad(normalize(msg.text)))
        if e then
          ctx.data.especialidad = e.id
          return "SERVICIO"
        end
        show_specialties(ctx, not_text(msg) and "Solo puedo leer texto y tus elecciones en la lista 🙂 " ..
                                                "Elige una especialidad 👇"
                                             or "Elige una especialidad de la lista 👇 (o escribe *humano* " ..
                                                "para hablar con recepción)")
      end,
    },

    SERVICIO = {
      enter = function(ctx)
        local e = catalogo.especialidad(ctx.data.especialidad)
        if not e then return "ESPECIALIDAD" end
        if #e.servicios == 1 then                  -- nothing to choose
          ctx.data.servicio = e.servicios[1].id
          return "HORARIO"
        end
        show_services(ctx, e, "*" .. e.titulo .. "*: estos son nuestros servicios y precios 👇")
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        if choice(msg) == "volver" or normalize(msg.text):find("otra especialidad") then
          return "ESPECIALIDAD"
        end
        if take_service(ctx, msg) then return "HORARIO" end
        local e = catalogo.especialidad(ctx.data.especialidad)
        if not e then return "ESPECIALIDAD" end
        show_services(ctx, e, "Elige un servicio de la lista para ver horarios disponibles 👇")
      end,
    },

    HORARIO = {
      enter = function(ctx)
        local s = catalogo.servicio(ctx.data.servicio)
        if not s then return "ESPECIALIDAD" end
        ctx.data.slot = nil
        local slots = fetch_slots(ctx, s.id)
        ctx.data.slots = slots
        if not slots then
          return ctx:buttons("No pude consultar la agenda en este momento 😕 ¿Lo intento de nuevo?", {
            { id = "reintentar", title = "Reintentar" },
            { id = "recepcion", title = "Hablar con recepción" },
          })
        end
        if #slots == 0 then
          return ctx:buttons("No quedan horas libres para *" .. s.titulo .. "* en los próximos días. " ..
                             "Recepción puede buscarte una 🙌", {
            { id = "recepcion", title = "Hablar con recepción" },
            { id = "servicio", title = "Cambiar servicio" },
          })
        end
        local rows = {}
        for _, slot in ipairs(slots) do
          rows[#rows + 1] = { id = slot.id, title = short_date(ctx, slot.start) }
        end
        rows[#rows + 1] = { id = "otro", title = "Otro horario", description = "Te ayuda recepción" }
        rows[#rows + 1] = { id = "servicio", title = "Cambiar servicio" }
        ctx:list(string.format("*%s* (%s, %d min). Estas son las horas disponibles:", s.titulo,
                               catalogo.precio(s.precio), s.minutos), "Ver horarios", rows)
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        local id = choice(msg)
        local text = normalize(msg.text)
        local slots = ctx.data.slots
        if not id then
          local n = tonumber(text:match("^%s*(%d+)%s*$") or "")
          if n and slots and slots[n] then id = slots[n].id end
          if text:find("reintent") or text:find("de nuevo") then id = "reintentar" end
          if text:find("otro") then id = "otro" end
          if text:find("servicio") then id = "servicio" end
        end
        if id == "reintentar" then return "HORARIO" end
        if id == "servicio" then return "SERVICIO" end
        if id == "otro" then
          handoff(ctx, "busca otro horario: " .. tostring(ctx.data.servicio))
          return
        end
        for _, slot in ipairs(slots or {}) do
          if slot.id == id then
            ctx.data.slot = slot
            return "CONFIRMAR"
          end
        end
        if not slots then return "HORARIO" end    -- the agenda failed before: try again
        ctx:say(not_text(msg) and "Solo puedo leer texto y tus elecciones en la lista 🙂 Toca *Ver horarios* 👆"
                               or "Elige un horario de la lista (toca *Ver horarios*) 🙂")
      end,
    },

    CONFIRMAR = {
      enter = function(ctx)
        local s = catalogo.servicio(ctx.data.servicio)
        if not (s and ctx.data.slot) then return "HORARIO" end
        ctx:buttons(string.format("¿Confirmo tu hora?\n\n💆 %s (%s)\n📅 %s\n📍 %s", s.titulo,
          catalogo.precio(s.precio), long_date(ctx, ctx.data.slot.start), DIRECCION), {
          { id = "confirmar", title = "Confirmar" },
          { id = "cambiar", title = "Cambiar horario" },
          { id = "cancelar", title = "Cancelar" },
        })
        ctx:after("20m", "liberar")          -- the choice is held 20 minutes
      end,
      leave = function(ctx)
        ctx:cancel("liberar")
      end,
      message = function(ctx, msg)
        local handled, state = common(ctx, msg)
        if handled then return state end
        local id = choice(msg)
        local text = normalize(msg.text)
        if not id then
          if text:find("confirm") or text:match("^%s*si%f[%A]") or text:match("^%s*ok") then id = "confirmar"
          elseif text:find("cambi") or text:find("otra hora") then id = "cambiar"
          elseif text:find("cancel") or text:match("^%s*no%f[%A]") then id = "cancelar" end
        end
        if id == "confirmar" then
          local result = book(ctx)
          if result == "ok" then return "AGENDADA" end
          if result == "taken" then
            ctx:say("Uy 😕 alguien acaba de tomar esa hora. Te muestro las que siguen libres:")
            return "HORARIO"
          end
          return ctx:buttons("No pude completar la reserva: la agenda no respondió 😕 " ..
                             "¿Lo intento de nuevo?", {
            { id = "confirmar", title = "Reintentar" },
            { id = "recepcion", title = "Hablar con recepción" },
          })
        elseif id == "cambiar" then
          return "HORARIO"
        elseif id == "cancelar" then
          ctx:say("Sin problema, no agendé nada 🙂")
          ctx.data.reprograma = nil
          return "ESPECIALIDAD"
        end
        ctx:buttons("¿Confirmamos esta hora? Toca una opción 👇", {
          { id = "confirmar", title = "Confirmar" },
          { id = "cambiar", title = "Cambiar horario" },
          { id = "cancelar", title = "Cancelar" },
        })
      end,
      timers = {
        liberar = function(ctx)
          ctx:say("Liberé el horario que elegiste porque no alcanzamos a confirmarlo. " ..
                  "Cuando quieras, elige otro 👇")
          return "HORARIO"
        end,
      },
    },

    AGENDADA = {
      enter = function(ctx)
        local d = ctx.data
        local cita = d.cita
        if not cita then return "ESPECIALIDAD" end
        local moved = d.reprograma ~= nil and d.reprograma ~= cita.id
        if moved then                            -- the new hour is booked: free the old one
          if not cancel_booking(ctx, d.reprograma) then
            ctx:handoff("reprogramó: anular en la agenda la cita " .. d.reprograma)
          end
        end
        d.reprograma, d.slots, d.slot = nil, nil, nil
        ctx:say("✅ ¡Listo! " .. (moved and "Reprogramé tu cita: ahora es " or "Agendé ") .. appointment_text(ctx, cita) .. ".\n📍 " .. DIRECCION .. "\n\n" ..
                "Llega 10 minutos antes, por favor 🙏 Te recordaré un día antes. Si necesitas " ..
                "cambiarla, escribe *reprogramar* o *cancelar*.")
        ctx:cancel("recordatorio")
        local at_ms = ctx:parse_date(cita.start)
        local delay = at_ms and (at_ms // 1000 - REMINDER_BEFORE_S - math.floor(ctx:now()))
        if delay and delay > 60 then ctx:after(delay, "recordatorio", { cita = cita.id }) end
        ctx:log("cita agendada " .. cita.id .. " " .. cita.servicio .. " " .. cita.start)
      end,
      message = function(ctx, msg)
        local action = appointment_choice(ctx, msg)  -- cancelar / reprogramar / asistiré
        if action then
          ctx.data.last_in = math.floor(ctx:now())
          return appointment_action(ctx, action)
        end
        local handled, state = common(ctx, msg)
        if handled then return state end
        local d = ctx.data
        if not d.cita then return "ESPECIALIDAD" end
        local text = normalize(msg.text)
        if text:find("nueva") or text:find("otra hora") then return "ESPECIALIDAD" end
        if text:find("gracias") or text:match("^%s*ok") or text:match("^%s*listo") then
          return ctx:say("¡A ti! Te esperamos el " .. appointment_text(ctx, d.cita) .. " 💆")
        end
        appointment_buttons(ctx, "Tienes agendada " .. appointment_text(ctx, d.cita) ..
                            ". ¿Qué necesitas? (para otra hora, escribe *nueva*)")
      end,
    },
  },

  timers = {
    -- Set in AGENDADA 24 h before the appointment. It fires in whatever state the
    -- conversation is then, and stays quiet if that appointment was cancelled or replaced.
    recordatorio = function(ctx, payload)
      local cita = ctx.data.cita
      if not (cita and payload and payload.cita == cita.id) then return end
      local s = catalogo.servicio(cita.servicio)
      if math.floor(ctx:now()) - (ctx.data.last_in or 0) >= 86400 - 300 then
        -- WhatsApp's 24 h window has closed: only an approved template may be sent.
        return ctx:template("recordatorio_cita", "es", {
          first_name(ctx) or "", s and s.titulo or cita.servicio, long_date(ctx, cita.start) })
      end
      ctx:buttons("⏰ Te recuerdo tu cita de mañana: " .. appointment_text(ctx, cita) .. ".\n📍 " ..
                  DIRECCION .. "\n¿Nos confirmas tu asistencia?", {
        { id = "cita_asistire", title = "Asistiré" },
        { id = "cita_reprogramar", title = "Reprogramar" },
        { id = "cita_cancelar", title = "Cancelar cita" },
      })
    end,
  },
}
