-- Flow tests of the AURA clinic receptionist. Run: charla test examples/clinic
-- The agenda (ctx:http) is scripted: no server is needed. The default clock of these
-- tests is Monday 2 March 2026, 09:00 in Santiago (open).

local FLOW = "../flow.lua"
local MONDAY_9AM = "2026-03-02T09:00:00-03:00"

local function slot(id) return { id = id, start = id .. ":00-03:00" } end

local SLOTS = { slots = { slot("2026-03-04T10:00"), slot("2026-03-04T11:30"), slot("2026-03-05T15:00") } }
local SLOTS_WITHOUT_FIRST = { slots = { slot("2026-03-04T11:30"), slot("2026-03-05T15:00") } }

local function booked(id, start)
  return { id = id, start = start or "2026-03-04T10:00:00-03:00", service = "limpieza" }
end

local function start(opts)
  local t = charla.test(FLOW, opts or { phone = "56911110001", name = "Ana Pérez", now = MONDAY_9AM })
  t:user("hola")
  t:expect_reply{ contains = "Soy AURA" }
  t:expect_reply{ type = "list", contains = "especialidad" }
  t:expect_state("ESPECIALIDAD")
  return t
end

-- From the start to the confirmation buttons of Wednesday 10:00 (limpieza facial).
local function to_confirm(t)
  t:tap("Estética facial")
  t:expect_reply{ type = "list", contains = "Estética facial" }
  t:http_reply{ url = "/slots/limpieza", json = SLOTS }
  t:tap("Limpieza facial profunda")
  t:expect_reply{ type = "list", contains = "Limpieza facial profunda" }
  t:expect_state("HORARIO")
  t:tap("mié 4 mar · 10:00")
  t:expect_reply{ type = "buttons", contains = "miércoles 4 de marzo a las 10:00" }
  t:expect_state("CONFIRMAR")
end

local function to_booked(opts)
  local t = start(opts)
  to_confirm(t)
  t:http_reply{ url = "/bookings", status = 201, json = booked("AURA-0001") }
  t:tap("Confirmar")
  t:expect_state("AGENDADA")
  t:expect_reply{ contains = "Agendé *Limpieza facial profunda* el *miércoles 4 de marzo a las 10:00*" }
  return t
end

test("happy path: specialty, service with price, free slot, booking and a reminder 24 h before", function()
  local t = start()
  t:tap("Estética facial")
  t:expect_reply{ type = "list", contains = "precios" }
  t:http_reply{ url = "/slots/limpieza", json = SLOTS }
  t:tap("Limpieza facial profunda")
  t:expect_reply{ contains = "$45.000" }
  t:tap("mié 4 mar · 10:00")
  t:expect_reply{ contains = "Av. Providencia 1234" }
  t:expect_timer("liberar", "20m")
  t:http_reply{ url = "/bookings", status = 201, json = booked("AURA-0001") }
  t:tap("Confirmar")
  t:expect_state("AGENDADA")
  t:expect_reply{ contains = "miércoles 4 de marzo a las 10:00" }
  t:expect_no_reply()
  t:expect_data("cita.id", "AURA-0001")
  t:expect_no_timer("liberar")
  t:expect_timer("recordatorio", "25h")        -- Wednesday 10:00 minus 24 h, from Monday 09:00
end)

test("a service named in the first message skips the menus", function()
  local t = charla.test(FLOW, { phone = "56911110002", now = MONDAY_9AM })
  t:http_reply{ url = "/slots/laser_axilas", json = SLOTS }
  t:user("hola, quiero depilarme las axilas")
  t:expect_reply{ contains = "Soy AURA" }
  t:expect_reply{ type = "list", contains = "Láser axilas" }
  t:expect_state("HORARIO")
end)

test("a slot taken meanwhile: the booking gets 409 and the remaining slots are offered", function()
  local t = start()
  to_confirm(t)
  t:http_reply{ url = "/bookings", status = 409, json = { error = "slot_taken" } }
  t:http_reply{ url = "/slots/limpieza", json = SLOTS_WITHOUT_FIRST }
  t:tap("Confirmar")
  t:expect_reply{ contains = "alguien acaba de tomar esa hora" }
  t:expect_reply{ type = "list", contains = "horas disponibles" }
  t:expect_state("HORARIO")
  t:expect_data("cita", nil)
  t:tap("mié 4 mar · 11:30")
  t:expect_state("CONFIRMAR")
end)

test("the agenda is down: the customer can retry or ask for reception", function()
  local t = start()
  t:tap("Estética facial")
  t:expect_reply{ type = "list" }
  t:http_fail("timeout")
  t:tap("Limpieza facial profunda")
  t:expect_reply{ type = "buttons", contains = "No pude consultar la agenda", buttons = { "Reintentar", "Hablar con recepción" } }
  t:expect_state("HORARIO")
  t:http_reply{ url = "/slots/limpieza", json = SLOTS }
  t:tap("Reintentar")
  t:expect_reply{ type = "list", contains = "horas disponibles" }
end)

test("a booking that fails with 503 is not announced as done, and can be retried", function()
  local t = start()
  to_confirm(t)
  t:http_fail(503)
  t:tap("Confirmar")
  t:expect_reply{ contains = "No pude completar la reserva" }
  t:expect_state("CONFIRMAR")
  t:expect_data("cita", nil)
  t:http_reply{ url = "/bookings", status = 201, json = booked("AURA-0007") }
  t:tap("Reintentar")
  t:expect_state("AGENDADA")
  t:expect_data("cita.id", "AURA-0007")
end)

test("the reminder a day before is a template when the 24 h window has closed", function()
  local t = to_booked()
  t:advance("24h")
  t:expect_no_reply()
  t:advance("1h")
  t:expect_reply{ type = "template", contains = "recordatorio_cita" }
  t:expect_no_reply()
end)

test("the reminder is a free-form message with buttons while the window is open", function()
  local t = to_booked()
  t:advance("3h")
  t:user("gracias!")                       -- the customer writes: the window reopens
  t:expect_reply{ contains = "Te esperamos" }
  t:advance("22h")
  t:expect_reply{ type = "buttons", contains = "Te recuerdo tu cita de mañana",
                  buttons = { "Asistiré", "Reprogramar", "Cancelar cita" } }
  t:tap("Asistiré")
  t:expect_reply{ contains = "Te esperamos el *Limpieza facial profunda*" }
  t:expect_state("AGENDADA")
end)

test("cancel by message: the agenda is told, the reminder is cancelled", function()
  local t = to_booked()
  t:http_reply{ url = "/bookings/AURA-0001/cancel", json = { id = "AURA-0001", status = "cancelled" } }
  t:user("quiero cancelar mi cita")
  t:expect_reply{ contains = "Cancelé tu cita" }
  t:expect_reply{ type = "list", contains = "especialidad" }
  t:expect_state("ESPECIALIDAD")
  t:expect_data("cita", nil)
  t:expect_no_timer("recordatorio")
  t:advance("2d")
  t:expect_no_reply()
end)

test("reschedule by message: the new slot is booked first, then the old one is freed", function()
  local t = to_booked()
  t:http_reply{ url = "/slots/limpieza", json = SLOTS_WITHOUT_FIRST }
  t:user("necesito reprogramar")
  t:expect_state("HORARIO")
  t:tap("jue 5 mar · 15:00")
  t:expect_state("CONFIRMAR")
  t:http_reply{ url = "/bookings", status = 201, json = booked("AURA-0002", "2026-03-05T15:00:00-03:00") }
  t:http_reply{ url = "/bookings/AURA-0001/cancel", json = { id = "AURA-0001", status = "cancelled" } }
  t:tap("Confirmar")
  t:expect_reply{ contains = "Reprogramé tu cita: ahora es *Limpieza facial profunda* el *jueves 5 de marzo a las 15:00*" }
  t:expect_data("cita.id", "AURA-0002")
  t:expect_data("reprograma", nil)
  t:expect_timer("recordatorio", "54h")      -- Thursday 15:00 minus 24 h, from Monday 09:00
end)

test("out of hours: the greeting says the opening hours; a handoff says when reception answers", function()
  local t = charla.test(FLOW, { phone = "56911110003", now = "2026-03-01T21:30:00-03:00" })   -- Sunday night
  t:user("hola")
  t:expect_reply{ contains = "fuera de horario" }
  t:expect_reply{ type = "list" }
  t:user("quiero hablar con una persona")
  t:expect_reply{ contains = "lunes a viernes 09:00–19:00; sábado 10:00–14:00); te escribirán apenas abramos" }
  t:expect_handoff("pidió recepción")
  t:user("hola??")
  t:expect_no_reply()
end)

test("garbage and a sticker in the specialty question are answered and asked again", function()
  local t = start()
  t:user("asdfgh")
  t:expect_reply{ type = "list", contains = "Elige una especialidad" }
  t:expect_state("ESPECIALIDAD")
  t:send{ type = "sticker", sticker = { id = "st-1", mime_type = "image/webp" } }
  t:expect_reply{ type = "list", contains = "Solo puedo leer texto" }
  t:expect_state("ESPECIALIDAD")
end)

test("a chosen slot is released after 20 minutes without confirmation", function()
  local t = start()
  to_confirm(t)
  t:advance("19m")
  t:expect_no_reply()
  t:http_reply{ url = "/slots/limpieza", json = SLOTS }
  t:advance("2m")
  t:expect_reply{ contains = "Liberé el horario" }
  t:expect_reply{ type = "list", contains = "horas disponibles" }
  t:expect_state("HORARIO")
end)

test("'menú' in the middle of a booking starts over and drops the held slot", function()
  local t = start()
  to_confirm(t)
  t:user("menú")
  t:expect_reply{ type = "list", contains = "especialidad" }
  t:expect_state("ESPECIALIDAD")
  t:expect_no_timer("liberar")
  t:expect_data("slot", nil)
end)

test("writing again after booking is always answered, and 'nueva' books another hour", function()
  local t = to_booked()
  t:user("hola")
  t:expect_reply{ type = "buttons", contains = "Tienes agendada", buttons = { "Reprogramar", "Cancelar cita", "Hablar con recepción" } }
  t:expect_state("AGENDADA")
  t:user("nueva")
  t:expect_reply{ type = "list", contains = "especialidad" }
  t:expect_state("ESPECIALIDAD")
end)

test("double texting: two quick messages are read as one", function()
  local t = charla.test(FLOW, { phone = "56911110004", now = MONDAY_9AM })
  t:http_reply{ url = "/slots/peeling", json = SLOTS }
  t:user("hola", "quiero un peeling")
  t:expect_reply{ contains = "Soy AURA" }
  t:expect_reply{ type = "list", contains = "Peeling químico" }
  t:expect_no_reply()
  t:expect_state("HORARIO")
end)

test("the opening hours are answered in any state", function()
  local t = start()
  t:user("¿a qué hora abren?")
  t:expect_reply{ contains = "Atendemos lunes a viernes 09:00–19:00; sábado 10:00–14:00" }
  t:expect_state("ESPECIALIDAD")
end)
