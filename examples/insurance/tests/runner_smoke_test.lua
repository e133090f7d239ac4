-- Smoke tests of the insurance reference flow with `charla test` (docs/flows.md,
-- "Testing flows"). Run: charla test examples/insurance
local FLOW = "../../../flows/insurance.lua"

local function start(opts)
  local t = charla.test(FLOW, opts or { phone = "5215550000001", now = "2026-03-02T09:00:00-06:00" })
  t:user("hola")
  t:expect_reply{ contains = "Soy *Vida*" }
  t:expect_reply{ contains = "¿Qué edad tienes?" }
  t:expect_state("NEEDS_ANALYSIS")
  return t
end

test("happy path: four answers give a quote and the proposal buttons", function()
  local t = start()
  t:user("35")
  t:expect_reply{ contains = "¿Fumas" , type = "buttons" }
  t:tap("No")
  t:expect_reply{ contains = "suma asegurada" }
  t:user("1 millón")
  t:expect_reply{ contains = "dependen" }
  t:llm_reply{ match = "Explica en 2 frases", reply = "Tu prima es baja porque eres joven y no fumas." }
  t:user("2")
  t:expect_reply{ contains = "Prima mensual" }
  t:expect_reply{ equals = "Tu prima es baja porque eres joven y no fumas." }
  t:expect_reply{ buttons = { "Aceptar", "Hablar con asesor", "Empezar de nuevo" } }
  t:expect_state("PROPUESTA")
  t:expect_data("age", 35)
  t:expect_data("smoker", false)
  t:tap("Aceptar")
  t:expect_state("FINALIZADO")
  t:expect_reply{ matches = "folio %*VIDA%-0001%-%d+%*" }
end)

test("a garbage age is asked again in numbers", function()
  local t = start()
  t:user("no sé")
  t:expect_reply{ contains = "con números" }
  t:expect_state("NEEDS_ANALYSIS")
  t:expect_no_reply()
end)

test("30 minutes of silence bring one reminder, not before", function()
  local t = start()
  t:expect_timer("timeout", "30m")
  t:advance("29m")
  t:expect_no_reply()
  t:advance("2m")
  t:expect_reply{ contains = "¿Sigues por ahí" }
end)

test("a question is answered by the LLM, and its failure falls back to the FAQ", function()
  local t = start()
  t:llm_reply{ match = "¿qué cubre?", reply = "Cubre fallecimiento por cualquier causa." }
  t:user("¿qué cubre?")
  t:expect_reply{ equals = "Cubre fallecimiento por cualquier causa." }
  t:expect_reply{ contains = "¿Qué edad tienes?" }
  t:llm_fail("timeout")
  t:user("¿y si quiero cancelar?")
  t:expect_reply{ contains = "Puedes cancelar cuando quieras" }
end)

test("asking for an advisor hands off, and the bot then stays quiet", function()
  local t = start()
  t:user("quiero hablar con un asesor")
  t:expect_reply{ contains = "Un asesor te escribirá" }
  t:expect_handoff("asesor")
  t:user("¿hola?")
  t:expect_no_reply()
end)

test("a location in the middle of a question is not an answer", function()
  local t = start()
  t:send{ type = "location", location = { latitude = -33.4, longitude = -70.6 } }
  t:expect_reply{ contains = "solo puedo leer mensajes de texto" }
  t:expect_reply{ contains = "¿Qué edad tienes?" }
end)

test("double texting the age is read as one answer", function()
  local t = start()
  t:user("tengo", "35 años")
  t:expect_reply{ contains = "¿Fumas", type = "buttons" }
  t:expect_no_reply()
  t:expect_data("age", 35)
end)
