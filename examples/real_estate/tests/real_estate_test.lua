-- Flow tests of the STRATO Propiedades assistant. Run: charla test examples/real_estate
-- The catalogue is the data module catalogo.lua; the clock of these tests is Monday
-- 2 March 2026, 09:00 in Buenos Aires.

local FLOW = "../flow.lua"
local MONDAY_9AM = "2026-03-02T09:00:00-03:00"

local function start(phone)
  local t = charla.test(FLOW, { phone = phone or "5491100000001", name = "Juan", now = MONDAY_9AM })
  t:user("hola")
  t:expect_reply{ contains = "STRATO Propiedades" }
  t:expect_reply{ type = "buttons", buttons = { "Comprar", "Alquilar", "Vender mi propiedad" } }
  t:expect_state("OPERACION")
  return t
end

-- Operation, zone, budget: the bedrooms question is next.
local function to_bedrooms(t, operation, zone, budget)
  t:tap(operation)
  t:expect_state("ZONA")
  t:user(zone)
  t:expect_state("PRESUPUESTO")
  t:user(budget)
  t:expect_state("DORMITORIOS")
end

test("happy path: search, photos and locations, a visit, and the lead goes to the CRM", function()
  local t = start()
  t:tap("Comprar")
  t:expect_reply{ contains = "zona o barrio" }
  t:user("Palermo o Belgrano")
  t:expect_reply{ contains = "presupuesto aproximado en dólares" }
  t:user("200 mil usd")
  t:expect_reply{ type = "buttons", contains = "dormitorios" }
  t:user("2 dorm")
  t:expect_state("RESULTADOS")
  t:expect_reply{ contains = "Tengo 2 propiedades" }
  t:expect_reply{ type = "image", contains = "Código BEL-101" }
  t:expect_reply{ type = "location" }
  t:expect_reply{ type = "image", contains = "Código PAL-101" }
  t:expect_reply{ type = "location" }
  t:expect_reply{ type = "list", contains = "visitar" }
  t:expect_no_reply()
  t:expect_emit("lead.qualified", { operacion = "compra", zona = "Palermo, Belgrano", presupuesto = 200000,
                                    moneda = "USD", dormitorios_min = 2, dormitorios_max = 2 })
  t:tap("Visitar BEL-101")
  t:expect_state("VISITA")
  t:expect_reply{ type = "list", contains = "2 dorm. con amenities en Belgrano R" }
  t:tap("mar 3/3 · 16:00")
  t:expect_state("VISITA_AGENDADA")
  t:expect_reply{ contains = "Visita a *2 dorm. con amenities en Belgrano R* (Virrey del Pino 2600, Belgrano), martes 3/3 a las 16:00" }
  t:expect_emit("visit.requested", { propiedad = "BEL-101", horario = "martes 3/3 a las 16:00" })
end)

test("'quiero alquilar en Palermo' in the first message skips two questions", function()
  local t = charla.test(FLOW, { phone = "5491100000002", now = MONDAY_9AM })
  t:user("Hola! quiero alquilar en Palermo")
  t:expect_reply{ contains = "STRATO" }
  t:expect_reply{ contains = "alquiler por mes" }
  t:expect_state("PRESUPUESTO")
  t:expect_data("operacion", "alquiler")
  t:expect_data("zonas", { "palermo" })
end)

test("bedrooms are read tolerantly: dos, 2-3, 3 ambientes, monoambiente, 3 o más", function()
  local cases = {
    { "dos", 2, 2 }, { "2-3", 2, 3 }, { "2 o 3 dormitorios", 2, 3 }, { "3 ambientes", 2, 2 },
    { "un monoambiente", 0, 0 }, { "3 o más", 3, 10 },
  }
  for i, c in ipairs(cases) do
    local t = start("54911000001" .. i)
    to_bedrooms(t, "Comprar", "cualquiera", "300 mil usd")
    t:user(c[1])
    t:expect_state("RESULTADOS")
    t:expect_data("dorm_min", c[2])
    t:expect_data("dorm_max", c[3])
  end
end)

test("a garbage budget is asked again with an example", function()
  local t = start()
  t:tap("Alquilar")
  t:user("Belgrano")
  t:user("no sé, lo normal")
  t:expect_reply{ contains = "No entendí el monto 🤔 Escríbelo con números, por ejemplo: 800 mil" }
  t:expect_state("PRESUPUESTO")
  t:user("900 mil pesos")
  t:expect_state("DORMITORIOS")
  t:expect_data("presupuesto", 900000)
  t:expect_data("moneda", "ARS")
end)

test("an unknown zone lists the zones we work in; 'cualquiera' is accepted", function()
  local t = start()
  t:tap("Comprar")
  t:user("en la luna")
  t:expect_reply{ contains = "Hoy trabajamos en Palermo, Belgrano, Núñez" }
  t:expect_state("ZONA")
  t:user("cualquiera está bien")
  t:expect_state("PRESUPUESTO")
  t:expect_data("zonas", {})
end)

test("nothing exact: 15 % more budget and one bedroom either side are tried", function()
  local t = start()
  to_bedrooms(t, "Alquilar", "Recoleta", "460 mil")
  t:user("1")
  t:expect_state("RESULTADOS")
  t:expect_reply{ contains = "No encontré exactamente eso" }
  t:expect_reply{ type = "image", contains = "Monoambiente en Recoleta" }
end)

test("nothing at all: the lead still goes to the CRM and an agent follows up", function()
  local t = start()
  to_bedrooms(t, "Comprar", "Caballito", "50 mil usd")
  t:user("3")
  t:expect_reply{ contains = "no tengo propiedades publicadas" }
  t:expect_state("DERIVADO")
  t:expect_emit("lead.qualified", { zona = "Caballito", presupuesto = 50000 })
  t:user("hola?")
  t:expect_reply{ type = "buttons", buttons = { "Nueva búsqueda", "Hablar con un asesor" } }
  t:tap("Nueva búsqueda")
  t:expect_state("OPERACION")
  t:expect_data("presupuesto", nil)
end)

test("selling goes to the valuation team as a lead", function()
  local t = start()
  t:tap("Vender mi propiedad")
  t:expect_reply{ contains = "tasación sin cargo" }
  t:expect_state("DERIVADO")
  t:expect_emit("lead.qualified", { operacion = "venta" })
end)

test("asking for an agent mid-flow hands over, and the bot stays quiet", function()
  local t = start()
  t:tap("Comprar")
  t:user("prefiero hablar con un asesor")
  t:expect_reply{ contains = "Un asesor te escribe" }
  t:expect_handoff("pidió asesor")
  t:user("hola")
  t:expect_no_reply()
end)

test("30 minutes of silence bring one reminder, not more", function()
  local t = start()
  t:tap("Comprar")
  t:advance("29m")
  t:expect_no_reply()
  t:advance("2m")
  t:expect_reply{ contains = "¿Sigues por ahí?" }
  t:advance("2h")
  t:expect_no_reply()
  t:user("Núñez")
  t:expect_state("PRESUPUESTO")
end)

test("a sticker in the middle of the budget question is not an answer", function()
  local t = start()
  t:tap("Comprar")
  t:user("Núñez")
  t:send{ type = "sticker", sticker = { id = "st-1", mime_type = "image/webp" } }
  t:expect_reply{ contains = "No entendí el monto" }
  t:expect_state("PRESUPUESTO")
end)

test("double texting: 'hola' and 'quiero comprar' are one turn", function()
  local t = charla.test(FLOW, { phone = "5491100000003", now = MONDAY_9AM })
  t:user("hola", "quiero comprar")
  t:expect_reply{ contains = "STRATO" }
  t:expect_reply{ contains = "zona o barrio" }
  t:expect_no_reply()
  t:expect_state("ZONA")
end)

test("'empezar de nuevo' in the middle of the questions starts over", function()
  local t = start()
  to_bedrooms(t, "Comprar", "Palermo", "150 mil")
  t:user("mejor empezar de nuevo")
  t:expect_reply{ type = "buttons", buttons = { "Comprar", "Alquilar", "Vender mi propiedad" } }
  t:expect_state("OPERACION")
  t:expect_data("zonas", nil)
end)

test("after the visit is scheduled, writing again is answered and can start a new search", function()
  local t = start()
  to_bedrooms(t, "Comprar", "Núñez", "160 mil usd")
  t:user("2")
  t:tap("Visitar NUN-101")
  t:tap("Otro día u hora")
  t:expect_reply{ contains = "a coordinar" }
  t:expect_state("VISITA_AGENDADA")
  t:user("gracias!")
  t:expect_reply{ type = "buttons", contains = "ya está con un asesor" }
  t:user("nueva búsqueda")
  t:expect_state("OPERACION")
end)
