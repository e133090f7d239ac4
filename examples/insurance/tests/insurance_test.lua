-- Flow tests of "Vida", the reference insurance flow (flows/insurance.lua).
-- Run: charla test examples/insurance
-- Most tests run without an LLM (llm = false: the flow's rule-based answers); the LLM
-- tests script its replies and failures.

local FLOW = "../../../flows/insurance.lua"
local NOW = "2026-03-02T09:00:00-06:00"

local function session(opts)
  opts = opts or {}
  return charla.test(FLOW, { phone = opts.phone or "5215550000001", name = "María López", now = NOW,
                             llm = opts.llm or false })
end

local function start(opts)
  local t = session(opts)
  t:user("hola")
  t:expect_reply{ contains = "Soy *Vida*" }
  t:expect_reply{ contains = "¿Qué edad tienes?" }
  t:expect_state("NEEDS_ANALYSIS")
  return t
end

-- The four answers: the proposal is shown (with the LLM, its explanation is scripted
-- or failed by the caller before).
local function to_proposal(t)
  t:user("35")
  t:expect_reply{ type = "buttons", contains = "¿Fumas" }
  t:tap("No")
  t:expect_reply{ contains = "suma asegurada" }
  t:user("1 millón")
  t:expect_reply{ contains = "Última pregunta" }
  t:user("2")
  t:expect_reply{ contains = "Prima mensual" }
  t:expect_reply{ type = "buttons", buttons = { "Aceptar", "Hablar con asesor", "Empezar de nuevo" } }
  t:expect_state("PROPUESTA")
end

test("happy path: four answers, quote, proposal, accepted with a folio and a CRM event", function()
  local t = start()
  to_proposal(t)
  t:expect_data("age", 35)
  t:expect_data("smoker", false)
  t:expect_data("coverage", 1000000)
  t:expect_data("dependents", 2)
  t:tap("Aceptar")
  t:expect_state("FINALIZADO")
  t:expect_reply{ matches = "folio %*VIDA%-0001%-%d+%*" }
  t:expect_emit("quote.accepted", { telefono = "5215550000001", edad = 35, fumador = false,
                                    suma_asegurada = 1000000, dependientes = 2 })
end)

test("garbage and out-of-range answers are asked again, with an example", function()
  local t = start()
  t:user("no sé")
  t:expect_reply{ contains = "No logré leer tu edad" }
  t:user("tengo 15")
  t:expect_reply{ contains = "de 18 a 75 años" }
  t:expect_data("age", nil)
  t:user("40")
  t:user("tal vez")
  t:expect_reply{ type = "buttons", contains = "no te entendí" }
  t:user("sí")
  t:user("50 mil")
  t:expect_reply{ contains = "de $100,000 a $10,000,000 MXN" }
  t:expect_state("NEEDS_ANALYSIS")
  t:expect_data("smoker", true)
end)

test("30 minutes of silence bring a reminder that repeats the pending question", function()
  local t = start()
  t:user("35")
  t:advance("29m")
  t:expect_no_reply()
  t:advance("2m")
  t:expect_reply{ type = "buttons", contains = "¿Sigues por ahí, María? Tu cotización está casi lista. ¿Fumas" }
  t:advance("3h")
  t:expect_no_reply()                     -- the timeout is armed again only by a message
end)

test("the LLM explains the premium on the proposal", function()
  local t = start{ llm = true }
  t:llm_reply{ match = "Explica en 2 frases", reply = "Tu prima es baja porque tienes 35 años y no fumas." }
  to_proposal(t)
  t:expect_reply{ equals = "Tu prima es baja porque tienes 35 años y no fumas." }
  t:expect_no_reply()
end)

test("when the LLM fails, the proposal is shown without the explanation", function()
  local t = start{ llm = true }
  t:llm_fail("timeout", { match = "Explica en 2 frases" })
  t:user("35")
  t:tap("No")
  t:user("1 millón")
  t:user("2")
  t:expect_reply{ contains = "Prima mensual" }
  t:expect_reply{ type = "buttons", contains = "Tu propuesta" }
  t:expect_no_reply()
  t:expect_state("PROPUESTA")
end)

test("a question is answered by the LLM, or by the FAQ when the LLM fails", function()
  local t = start{ llm = true }
  t:llm_reply{ match = "¿qué cubre el seguro?", reply = "Cubre fallecimiento por cualquier causa." }
  t:user("¿qué cubre el seguro?")
  t:expect_reply{ equals = "Cubre fallecimiento por cualquier causa." }
  t:expect_reply{ contains = "¿Qué edad tienes?" }
  t:llm_fail("http_5xx")
  t:user("¿y los beneficiarios?")
  t:expect_reply{ contains = "Tú eliges a tus beneficiarios" }
  t:expect_reply{ contains = "¿Qué edad tienes?" }
  t:expect_state("NEEDS_ANALYSIS")
end)

test("'Hablar con asesor' hands off and keeps the quote; the bot stays quiet", function()
  local t = start()
  to_proposal(t)
  t:tap("Hablar con asesor")
  t:expect_reply{ contains = "Tu cotización queda guardada" }
  t:expect_handoff("pidió asesor")
  t:expect_state("PROPUESTA")
  t:user("hola?")
  t:expect_no_reply()
end)

test("days later, with the 24 h window closed, the follow-up is the approved template", function()
  local t = start()
  to_proposal(t)
  t:advance("2h")
  t:expect_reply{ type = "buttons", contains = "¿Pudiste revisar tu propuesta?" }
  t:expect_timer("seguimiento", "70h")      -- 3 days after the customer's last message
  t:advance("69h")
  t:expect_no_reply()
  t:advance("1h")
  t:expect_reply{ type = "template", contains = "seguimiento_cotizacion" }
  t:expect_no_reply()
end)

test("inside the 24 h window the follow-up is a free-form message with buttons", function()
  local t = start()
  to_proposal(t)
  t:advance("71h")                         -- the 2 h reminder fires on the way
  t:expect_reply{ contains = "¿Pudiste revisar tu propuesta?" }
  t:user("lo estoy pensando")
  t:expect_reply{ type = "buttons" }
  t:advance("1h")
  t:expect_reply{ type = "buttons", contains = "Sigue vigente", buttons = { "Aceptar", "Hablar con asesor" } }
  t:tap("Aceptar")
  t:expect_state("FINALIZADO")
  t:expect_no_timer("seguimiento")
end)

test("a sticker in the middle of a question is not an answer", function()
  local t = start()
  t:send{ type = "sticker", sticker = { id = "st-1", mime_type = "image/webp" } }
  t:expect_reply{ contains = "solo puedo leer mensajes de texto" }
  t:expect_reply{ contains = "¿Qué edad tienes?" }
  t:expect_data("age", nil)
end)

test("double texting: 'tengo' and '35 años' are one answer", function()
  local t = start()
  t:user("tengo", "35 años")
  t:expect_reply{ type = "buttons", contains = "¿Fumas" }
  t:expect_no_reply()
  t:expect_data("age", 35)
end)

test("'Empezar de nuevo' on the proposal clears the answers", function()
  local t = start()
  to_proposal(t)
  t:tap("Empezar de nuevo")
  t:expect_reply{ contains = "Empecemos de nuevo" }
  t:expect_reply{ contains = "¿Qué edad tienes?" }
  t:expect_state("NEEDS_ANALYSIS")
  t:expect_data("age", nil)
  t:expect_data("quote", nil)
end)

test("writing after the end is answered and can start a new quote", function()
  local t = start()
  to_proposal(t)
  t:tap("Aceptar")
  t:user("hola")
  t:expect_reply{ type = "buttons", buttons = { "Nueva cotización", "No, gracias" } }
  t:expect_state("FINALIZADO")
  t:tap("Nueva cotización")
  t:expect_reply{ contains = "¿Qué edad tienes?" }
  t:expect_state("NEEDS_ANALYSIS")
  t:user("gracias")
  t:expect_reply{ contains = "No logré leer tu edad" }
end)
