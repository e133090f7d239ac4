--[[
insurance.lua — "Vida", a life-insurance broker's WhatsApp assistant (reference flow).

  INICIO ──any message──▶ NEEDS_ANALYSIS ──4 answers──▶ COTIZACION ──(enter)──▶ PROPUESTA
                              ▲   │ 30 min idle: reminder          │            │ Aceptar
                              │   └ "?": answer, re-ask            │            ▼
                              └──────── Empezar de nuevo ◀─────────┴───── FINALIZADO
                                                         (Hablar con asesor: handoff, stays)

How it is built (read this before copying it for another bot):

* INICIO greets on `enter` and moves on with the customer's first message. If that
  first message is a question, it is answered before the first question is asked.
* NEEDS_ANALYSIS asks four questions, one at a time: age, smoker, coverage,
  dependents. The answers live in ctx.data (age, smoker, coverage, dependents), so
  the pending question is simply the first field still missing (`pending_field`).
  That makes the state restart-safe: after a crash, a deploy or a 30-minute pause the
  conversation resumes on the same question. Each question is one entry of
  QUESTIONS: how to ask it, how to parse an answer, how to re-ask after a bad answer
  and why we ask. Adding a question = adding an entry and a field to FIELD_ORDER.
  A message that is not a valid answer and contains "?" is treated as a question:
  the LLM answers it when the llm plugin is configured, otherwise a small keyword FAQ
  does (`rule_answer`); then the pending question is asked again.
* COTIZACION has only an `enter`: it prices the profile with the illustrative tariff in
  insurance_rates.lua, stores ctx.data.quote, tells the premium and returns
  "PROPUESTA" (enter may return a further state).
* PROPUESTA shows the proposal with three buttons. Button ids (not titles) drive the
  logic; typed equivalents ("acepto", "asesor", "de nuevo", "1"/"2"/"3") work too.
  "Hablar con asesor" calls ctx:handoff and STAYS in PROPUESTA on purpose: the quote
  is still valid, so when the human agent hands the conversation back (admin
  "resume"), the customer can still tap "Aceptar" without starting over.
  Left unanswered, PROPUESTA reminds once after 2 h and follows up 3 days after the
  customer's last message; by then WhatsApp's 24 h window has usually closed, so the
  follow-up is the approved template `seguimiento_cotizacion` (a free-form message with
  buttons when the customer wrote within the last 24 h: ctx.data.last_in).
* FINALIZADO thanks and summarises, emits `quote.accepted` for the CRM (ctx:emit); a
  later message offers a new quote or says bye.

Conventions: every ctx:llm call goes through `ask_llm`, which returns nil when the
plugin is not configured or fails, and every caller has a rule-based fallback. No
module-level mutable state: locals at file level are shared by every conversation on
a worker, so everything per-customer lives in ctx.data (JSON values only). Before a
handoff the flow sets ctx.data.handoff, and its reminders check it, so the bot never
nudges a customer a human is talking to; the next message the bot handles clears it.
States change by returning their name (`goto` is a Lua keyword; ctx:go is the alias).
]]

local rates = require("insurance_rates")

---------------------------------------------------------------------------------------
-- Text helpers
---------------------------------------------------------------------------------------

-- Lower-case and strip Spanish accents so "Sí", "SÍ" and "si" compare equal.
local ACCENTS = {
  ["á"] = "a", ["é"] = "e", ["í"] = "i", ["ó"] = "o", ["ú"] = "u", ["ü"] = "u", ["ñ"] = "n",
  ["Á"] = "a", ["É"] = "e", ["Í"] = "i", ["Ó"] = "o", ["Ú"] = "u", ["Ü"] = "u", ["Ñ"] = "n",
}

local function normalize(text)
  local s = string.lower(text or "")
  s = s:gsub("\195[\128-\191]", ACCENTS)
  return s
end

local function words(text)
  local list = {}
  for w in normalize(text):gmatch("%a+") do
    list[#list + 1] = w
  end
  return list
end

local function has_word(text, set)
  for _, w in ipairs(words(text)) do
    if set[w] then return true end
  end
  return false
end

local function is_question(text)
  return text:find("?", 1, true) ~= nil or text:find("¿", 1, true) ~= nil
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local function first_name(ctx)
  local name = ctx.name
  if type(name) ~= "string" then return nil end
  name = trim(name)
  if name == "" then return nil end
  return name:match("^(%S+)")
end

-- 1234.5 -> "$1,234.50 MXN"; decimals = 0 gives "$500,000 MXN".
local function money(amount, decimals)
  decimals = decimals or 2
  local s = string.format("%." .. decimals .. "f", amount)
  local int, frac = s:match("^(%d+)(.*)$")
  int = int:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return "$" .. int .. frac .. " MXN"
end

local function plural(n, one, many)
  return n == 1 and (n .. " " .. one) or (n .. " " .. many)
end

---------------------------------------------------------------------------------------
-- LLM (optional): nil when the plugin is not configured or the call fails
---------------------------------------------------------------------------------------

local ADVISOR_SYSTEM = table.concat({
  "Eres Vida, la asistente virtual de una correduría de seguros de vida en México.",
  "Respondes por WhatsApp: en español, con tono cálido y cercano, en máximo 3 frases cortas.",
  "Explica conceptos de seguros de vida con claridad. No inventes precios, coberturas",
  "ni condiciones de una aseguradora concreta; si algo depende de la póliza, dilo y",
  "sugiere hablar con un asesor. No pidas datos personales: de eso se encarga el flujo.",
}, " ")

local LLM_TIMEOUT = "8s"

local function ask_llm(ctx, args)
  if not ctx.llm then return nil end              -- llm plugin not configured
  args.timeout = args.timeout or LLM_TIMEOUT      -- a slow model must not hold the turn
  local ok, answer, err = pcall(ctx.llm, ctx, args)
  if not ok then
    ctx:log("llm call raised: " .. tostring(answer))
    return nil
  end
  if answer == nil then
    ctx:log("llm unavailable: " .. tostring(err and err.code) .. " " .. tostring(err and err.message))
    return nil
  end
  if type(answer) ~= "string" then return nil end
  answer = trim(answer)
  if answer == "" then return nil end
  if utf8.len(answer) and utf8.len(answer) > 600 then   -- keep WhatsApp bubbles short
    answer = answer:sub(1, utf8.offset(answer, 601) - 1) .. "…"
  end
  return answer
end

---------------------------------------------------------------------------------------
-- Rule-based FAQ, used when there is no LLM
---------------------------------------------------------------------------------------

local FAQ = {
  { keys = { "cubre", "cobertura", "coberturas", "incluye", "protege", "sirve" },
    answer = "Un seguro de vida paga la suma asegurada a tus beneficiarios si falleces " ..
             "durante la vigencia, por enfermedad o accidente. Muchos planes suman " ..
             "invalidez total y permanente como beneficio adicional." },
  { keys = { "cancelar", "cancelo", "cancelacion", "dejo", "dejar" },
    answer = "Puedes cancelar cuando quieras. Si dejas de pagar, la póliza se cancela al " ..
             "terminar el periodo de gracia (normalmente 30 días) y con ella la protección." },
  { keys = { "cuesta", "costo", "precio", "caro", "barato", "prima", "pagar", "pago" },
    answer = "El precio (la prima) depende de tu edad, si fumas, la suma asegurada y " ..
             "cuántas personas dependen de ti. Con tus respuestas te doy la cifra exacta." },
  { keys = { "beneficiario", "beneficiarios", "heredero", "herederos" },
    answer = "Tú eliges a tus beneficiarios (pareja, hijos, padres…) y puedes " ..
             "cambiarlos cuando quieras durante la vigencia." },
  { keys = { "dependiente", "dependientes", "esposa", "esposo", "pareja", "hijo", "hijos",
             "padres", "mama", "papa" },
    answer = "Cuenta a todas las personas que dependen de tu ingreso: pareja, hijos, " ..
             "padres u otros familiares a quienes apoyas económicamente." },
  { keys = { "examen", "examenes", "medico", "medicos", "estudios", "laboratorio" },
    answer = "Para montos moderados suele bastar un cuestionario de salud; los montos " ..
             "altos pueden requerir exámenes médicos, que normalmente paga la aseguradora." },
  { keys = { "deducible", "deducibles", "impuestos", "sat", "fiscal" },
    answer = "En México, las primas de algunos seguros de vida pueden ser deducibles. " ..
             "Un asesor te puede confirmar tu caso según tu régimen fiscal." },
}

local WHY_WORDS = { por = true, porque = true, para = true }

local function rule_answer(text, pending_why)
  local w = words(text)
  -- "¿por qué me preguntas eso?" -> explain the pending question
  if pending_why and #w >= 2 and WHY_WORDS[w[1]] and (w[2] == "que" or w[1] == "porque") then
    return pending_why
  end
  for _, entry in ipairs(FAQ) do
    for _, key in ipairs(entry.keys) do
      for _, word in ipairs(w) do
        if word == key then return entry.answer end
      end
    end
  end
  return "Buena pregunta 🙂 Un asesor puede darte todo el detalle; por ahora te " ..
         "ayudo a tener tu cotización en un par de minutos."
end

local function answer_question(ctx, text, pending_why)
  local answer = ask_llm(ctx, {
    system = ADVISOR_SYSTEM,
    prompt = "Pregunta del cliente: " .. text,
    temperature = 0.3,
    max_tokens = 200,
  })
  ctx:say(answer or rule_answer(text, pending_why))
end

---------------------------------------------------------------------------------------
-- Answer parsers: return value, or nil plus a reason ("nan", "range", ...)
---------------------------------------------------------------------------------------

local NUMBER_WORDS = {
  cero = 0, un = 1, uno = 1, una = 1, dos = 2, tres = 3, cuatro = 4, cinco = 5, seis = 6,
  siete = 7, ocho = 8, nueve = 9, diez = 10, once = 11, doce = 12,
  cien = 100, ciento = 100, doscientos = 200, trescientos = 300, cuatrocientos = 400,
  quinientos = 500, seiscientos = 600, setecientos = 700, ochocientos = 800,
  novecientos = 900,
}

local function parse_age(text)
  local digits = text:match("%d+")
  if not digits then return nil, "nan" end
  local age = tonumber(digits)
  if age < rates.min_age or age > rates.max_age then return nil, "range" end
  return age
end

local SMOKER_NO_PHRASES = { "no fumo", "ya no", "deje de fumar", "no fumador", "no fumadora" }
local SMOKER_UNSURE = { "^no se", "no estoy segur" }
local SMOKER_YES = {
  si = true, sip = true, simon = true, claro = true, fumo = true, fumador = true,
  fumadora = true, vapeo = true, veces = true, ocasionalmente = true, socialmente = true,
  poco = true, yes = true,
}
local SMOKER_NO = { no = true, nop = true, nope = true, nel = true, nunca = true, negativo = true }

local function parse_smoker(text, msg)
  local button = msg and (msg.button or msg.list)
  if button and (button.id == "si" or button.id == "no") then
    return button.id == "si"
  end
  local n = normalize(text)
  for _, p in ipairs(SMOKER_UNSURE) do
    if n:find(p) then return nil, "unsure" end
  end
  local w = words(text)
  if #w == 0 then return nil, "empty" end
  -- "¿por qué importa si fumo?" mentions "fumo" but is a question, not an answer:
  -- with a "?" only a one-word reply ("¿sí?") counts.
  if is_question(text) and #w > 1 then return nil, "question" end
  for _, p in ipairs(SMOKER_NO_PHRASES) do
    if n:find(p, 1, true) then return false end
  end
  if SMOKER_NO[w[1]] then return false end
  for _, word in ipairs(w) do
    if SMOKER_YES[word] then return true end
  end
  return nil, "unclear"
end

-- "500,000" / "500.000" -> 500000; "1.5" / "1,5" -> 1.5; "1,500,000.50" -> 1500000.5
local function parse_number_token(token)
  token = token:gsub("[.,]+$", "")
  local last = token:match(".*()[.,]")
  if not last then return tonumber(token) end
  local before = token:sub(1, last - 1):gsub("[.,]", "")
  local after = token:sub(last + 1)
  if #after == 3 then return tonumber(before .. after) end   -- thousands separator
  return tonumber(before .. "." .. after)                      -- decimal separator
end

local MULTIPLIERS = {
  mil = 1e3, k = 1e3, millon = 1e6, millones = 1e6, mdp = 1e6, m = 1e6, mm = 1e6,
}

local function parse_coverage(text)
  local n = normalize(text):gsub("%$", " "):gsub("mxn", " "):gsub("pesos", " ")
  local joined
  repeat  -- "750 000" (space as thousands separator) -> "750000"
    n, joined = n:gsub("(%d) (%d%d%d)%f[%D]", "%1%2")
  until joined == 0
  local amount
  local token, rest = n:match("(%d[%d.,]*)%s*(.*)$")
  if token then
    local base = parse_number_token(token)
    if not base then return nil, "nan" end
    local unit = rest:match("^(%a+)")
    local mult = unit and MULTIPLIERS[unit] or 1
    amount = base * mult
    if mult == 1e6 and rest:find("y medio", 1, true) then amount = amount + 5e5 end
  elseif n:find("medio millon", 1, true) then
    amount = 5e5
  else
    -- "un millón", "dos millones", "quinientos mil", "millón y medio"
    local word, unit = n:match("(%a+)%s+(mil%a*)")
    local base = word and NUMBER_WORDS[word]
    if base and MULTIPLIERS[unit] then
      amount = base * MULTIPLIERS[unit]
    elseif n:find("millon", 1, true) then
      amount = 1e6
    end
    if amount and amount >= 1e6 and n:find("y medio", 1, true) then amount = amount + 5e5 end
  end
  if not amount then return nil, "nan" end
  amount = math.floor(amount + 0.5)
  if amount < rates.min_coverage or amount > rates.max_coverage then return nil, "range" end
  return math.tointeger(amount) or amount
end

local DEPENDENTS_ZERO = { ninguno = true, ninguna = true, nadie = true, cero = true, no = true }

local function parse_dependents(text)
  local digits = text:match("%d+")
  -- "¿cuenta mi hijo o no?" is a question, not "no" = 0 dependents
  if not digits and is_question(text) then return nil, "question" end
  local count
  if digits then
    count = tonumber(digits)
  else
    for _, w in ipairs(words(text)) do
      if DEPENDENTS_ZERO[w] then count = 0 break end
      if NUMBER_WORDS[w] and NUMBER_WORDS[w] <= 20 then count = NUMBER_WORDS[w] break end
    end
  end
  if not count then return nil, "nan" end
  if count > 20 then return nil, "range" end
  return count
end

---------------------------------------------------------------------------------------
-- The four questions of NEEDS_ANALYSIS
---------------------------------------------------------------------------------------

local FIELD_ORDER = { "age", "smoker", "coverage", "dependents" }

local SMOKER_BUTTONS = { { id = "si", title = "Sí" }, { id = "no", title = "No" } }

local QUESTIONS = {
  age = {
    ask = function(ctx, prefix)
      ctx:say(prefix .. "¿Qué edad tienes? Escríbela con números, por ejemplo: 35")
    end,
    parse = parse_age,
    reask = function(ctx, why)
      if why == "range" then
        ctx:say("Puedo cotizar edades de 18 a 75 años. ¿Qué edad tienes? " ..
                "Escríbela con números, por ejemplo: 35")
      else
        ctx:say("No logré leer tu edad 🤔 Escríbela con números, por ejemplo: 35")
      end
    end,
    why = "Te pregunto la edad porque es lo que más influye en el precio: " ..
          "a menor edad, menor prima.",
  },
  smoker = {
    ask = function(ctx, prefix)
      ctx:buttons(prefix .. "¿Fumas o has fumado (incluido vapeo) en los últimos 12 meses?",
                  SMOKER_BUTTONS)
    end,
    parse = parse_smoker,
    reask = function(ctx)
      ctx:buttons("Perdona, no te entendí. ¿Fumas? Responde *Sí* o *No* " ..
                  "(puedes tocar un botón).", SMOKER_BUTTONS)
    end,
    why = "Las aseguradoras preguntan si fumas porque el tabaco eleva el riesgo de " ..
          "salud; por eso la prima para fumadores es más alta.",
  },
  coverage = {
    ask = function(ctx, prefix)
      ctx:say(prefix .. "¿De cuánto quieres la *suma asegurada*? Es el monto que " ..
              "recibiría tu familia. Por ejemplo: 500 mil, 1 millón o 2,000,000 " ..
              "(de $100,000 a $10,000,000 MXN).")
    end,
    parse = parse_coverage,
    reask = function(ctx, why)
      if why == "range" then
        ctx:say("La suma asegurada puede ir de $100,000 a $10,000,000 MXN. " ..
                "¿Cuánto te gustaría? Por ejemplo: 1 millón")
      else
        ctx:say("No entendí el monto 🤔 Escríbelo en pesos, por ejemplo: " ..
                "500 mil, 1 millón o 1,500,000")
      end
    end,
    why = "La suma asegurada es lo que recibirían tus beneficiarios. Una regla " ..
          "práctica: entre 5 y 10 veces tus ingresos anuales.",
  },
  dependents = {
    ask = function(ctx, prefix)
      ctx:say(prefix .. "¿Cuántas personas dependen económicamente de ti? " ..
              "(pareja, hijos, padres…) Escribe un número, por ejemplo: 2, o 0 si nadie.")
    end,
    parse = parse_dependents,
    reask = function(ctx)
      ctx:say("¿Cuántas personas dependen de ti? Escribe un número del 0 al 20, " ..
              "por ejemplo: 2")
    end,
    why = "Con tus dependientes ajusto la protección familiar de la póliza.",
  },
}

local function pending_field(data)
  for _, field in ipairs(FIELD_ORDER) do
    if data[field] == nil then return field end
  end
  return nil
end

local function ask(ctx, field, prefix)
  QUESTIONS[field].ask(ctx, prefix or "")
end

local ADVISOR_WORDS = {
  asesor = true, asesora = true, agente = true, humano = true, humana = true,
  ejecutivo = true, ejecutiva = true,
}

local function profile_summary(d)
  return string.format("• Edad: %d años\n• %s\n• Suma asegurada: %s\n• Dependientes: %d",
    d.age, d.smoker and "Fumador(a)" or "No fumador(a)", money(d.coverage, 0), d.dependents)
end

-- The CRM hears about accepted proposals through events; without ctx:emit, only the log.
local function emit(ctx, name, payload)
  if ctx.emit then return ctx:emit(name, payload) end
  ctx:log(name .. " (ctx:emit not available)")
end

-- Every handled message: remember when the customer last wrote, for the 24 h window.
local function seen(ctx)
  ctx.data.last_in = math.floor(ctx:now())
end

-- A proposal left unanswered gets a follow-up 3 days after the customer's last message:
-- the 2 h timeout (re)schedules it 70 h further, so the turns that show the proposal
-- write no extra timer.
local FOLLOW_UP_AFTER_TIMEOUT = "70h"
local WINDOW_SECONDS = 24 * 3600

---------------------------------------------------------------------------------------
-- The flow
---------------------------------------------------------------------------------------

return {
  name = "insurance",
  version = 1,
  initial = "INICIO",
  description = "Vida: cotizador de seguros de vida (saludo, 4 preguntas, cotización, propuesta).",
  fallback = "Lo siento, tuve un problema al procesar tu mensaje 🙏 ¿Puedes intentarlo de nuevo?",
  llm_fallback = "En este momento no puedo responder eso, pero un asesor puede ayudarte. " ..
                 "Sigamos con tu cotización 🙂",
  double_text = { debounce_ms = 1500 },

  states = {
    INICIO = {
      enter = function(ctx)
        local name = first_name(ctx)
        ctx:say(string.format(
          "¡Hola%s! 👋 Soy *Vida*, tu asistente de seguros de vida.\n" ..
          "Con 4 preguntas rápidas te doy una cotización al momento, sin compromiso.",
          name and (", " .. name) or ""))
      end,
      message = function(ctx, msg)
        local text = msg.text or ""
        seen(ctx)
        if is_question(text) then
          answer_question(ctx, text, nil)
        end
        return "NEEDS_ANALYSIS"
      end,
    },

    NEEDS_ANALYSIS = {
      enter = function(ctx)
        local field = pending_field(ctx.data)
        if not field then return "COTIZACION" end
        ctx.data.reminders = nil
        ask(ctx, field, field == "age" and "Primero: " or "Sigamos. ")
      end,

      message = function(ctx, msg)
        local field = pending_field(ctx.data)
        if not field then return "COTIZACION" end
        local question = QUESTIONS[field]
        local text = msg.text or ""
        ctx.data.handoff = nil                 -- a handled message: the bot is in charge again
        seen(ctx)

        if has_word(text, ADVISOR_WORDS) then
          ctx.data.handoff = true
          ctx:say("¡Claro! Un asesor te escribirá por aquí en breve 🙌")
          return ctx:handoff("pidió asesor durante el análisis de necesidades")
        end

        if text == "" and msg.type ~= "button" and msg.type ~= "interactive" then
          ctx:say("Por ahora solo puedo leer mensajes de texto 🙂")
          return ask(ctx, field)
        end

        local value, why = question.parse(text, msg)
        if value ~= nil then
          ctx.data[field] = value
          ctx.data.reminders = nil
          local next_field = pending_field(ctx.data)
          if not next_field then return "COTIZACION" end
          local last = next_field == FIELD_ORDER[#FIELD_ORDER]
          return ask(ctx, next_field, last and "¡Gracias! Última pregunta: " or "¡Gracias! ")
        end

        if is_question(text) then
          answer_question(ctx, text, question.why)
          return ask(ctx, field, "Sigamos: ")
        end
        return question.reask(ctx, why)
      end,

      timeout = {
        after = "30m",
        run = function(ctx)
          if ctx.data.handoff then return end   -- a human agent has the conversation
          local field = pending_field(ctx.data)
          if not field then return "COTIZACION" end
          local reminders = ctx.data.reminders or 0
          if reminders >= 2 then return end   -- don't nag: two reminders at most
          ctx.data.reminders = reminders + 1
          local name = first_name(ctx)
          ask(ctx, field, string.format(
            "¿Sigues por ahí%s? Tu cotización está casi lista. ",
            name and (", " .. name) or ""))
        end,
      },
    },

    COTIZACION = {
      enter = function(ctx)
        local d = ctx.data
        if pending_field(d) then return "NEEDS_ANALYSIS" end
        local quote, why = rates.quote{
          age = d.age, smoker = d.smoker, coverage = d.coverage, dependents = d.dependents,
        }
        if not quote then
          ctx:log("quote failed: " .. tostring(why))
          d.age, d.coverage = nil, nil
          ctx:say("Hubo un dato fuera de rango; revisemos tu edad y la suma asegurada.")
          return "NEEDS_ANALYSIS"
        end
        quote.computed_at = ctx:now()
        d.quote = quote
        local savings = quote.monthly * 12 - quote.annual
        ctx:say(string.format(
          "✅ ¡Listo! Tu cotización:\n\n" ..
          "💳 Prima mensual: *%s*\n📅 Prima anual: *%s*\n\n" ..
          "Pagando anual ahorras %s.",
          money(quote.monthly), money(quote.annual), money(savings)))
        return "PROPUESTA"
      end,
      message = function()
        return "PROPUESTA"
      end,
    },

    PROPUESTA = {
      enter = function(ctx)
        local d = ctx.data
        if not d.quote then return "COTIZACION" end
        local explanation = ask_llm(ctx, {
          system = ADVISOR_SYSTEM,
          prompt = string.format(
            "Explica en 2 frases, sin cambiar ninguna cifra, por qué esta prima de seguro " ..
            "de vida tiene ese monto. Edad %d, %s, suma asegurada %s, %s, prima mensual %s, " ..
            "prima anual %s. La prima sube con la edad, con el tabaco y con la suma asegurada; " ..
            "cada dependiente suma %g%% por protección familiar.",
            d.age, d.smoker and "fumador" or "no fumador", money(d.coverage, 0),
            plural(d.dependents, "dependiente", "dependientes"),
            money(d.quote.monthly), money(d.quote.annual), rates.rider_per_dependent * 100),
          temperature = 0.3,
          max_tokens = 160,
        })
        if explanation then ctx:say(explanation) end
        ctx:buttons(string.format(
          "📋 *Tu propuesta: Seguro de Vida Temporal*\n%s\n\n" ..
          "Protección por fallecimiento por cualquier causa.\n" ..
          "Prima: *%s* al mes o *%s* al año.\n\n¿Cómo quieres seguir?",
          profile_summary(d), money(d.quote.monthly), money(d.quote.annual)),
          {
            { id = "aceptar", title = "Aceptar" },
            { id = "asesor", title = "Hablar con asesor" },
            { id = "reiniciar", title = "Empezar de nuevo" },
          })
      end,

      message = function(ctx, msg)
        local text = msg.text or ""
        local choice = msg.button and msg.button.id
        ctx.data.handoff = nil
        seen(ctx)
        if not choice then
          local n = normalize(trim(text))
          local w = words(text)
          if n == "1" then choice = "aceptar"
          elseif n == "2" then choice = "asesor"
          elseif n == "3" then choice = "reiniciar"
          elseif has_word(text, ADVISOR_WORDS) or n:find("hablar con", 1, true) then
            choice = "asesor"
          elseif n:find("de nuevo", 1, true) or n:find("otra vez", 1, true)
              or n:find("empezar", 1, true) or n:find("reiniciar", 1, true)
              or n:find("cambiar", 1, true) then
            choice = "reiniciar"
          elseif w[1] ~= "no" and not is_question(text) and has_word(text, {
              acepto = true, aceptar = true, si = true, ok = true, va = true, vale = true,
              contratar = true, contrato = true, perfecto = true, listo = true, adelante = true,
            }) then
            choice = "aceptar"
          end
        end

        if choice == "aceptar" then
          return "FINALIZADO"
        elseif choice == "asesor" then
          ctx.data.handoff = true
          ctx:say("¡Perfecto! Un asesor te escribirá por aquí muy pronto para resolver tus " ..
                  "dudas. Tu cotización queda guardada 🙌")
          return ctx:handoff("pidió asesor")
        elseif choice == "reiniciar" then
          ctx.data = {}
          ctx:say("¡Claro! Empecemos de nuevo 🔄")
          return "NEEDS_ANALYSIS"
        end

        if is_question(text) then
          answer_question(ctx, text, nil)
        end
        ctx:buttons("¿Quieres aceptar la propuesta, hablar con un asesor o empezar de nuevo? " ..
                    "Toca una opción 👇", {
          { id = "aceptar", title = "Aceptar" },
          { id = "asesor", title = "Hablar con asesor" },
          { id = "reiniciar", title = "Empezar de nuevo" },
        })
      end,

      leave = function(ctx)
        ctx:cancel("seguimiento")
      end,

      timers = {
        -- Days later the customer's 24 h window has usually closed, and WhatsApp only
        -- delivers an approved template then: seguimiento_cotizacion ({{1}} name,
        -- {{2}} monthly premium) with a quick-reply button the customer can tap.
        seguimiento = function(ctx)
          local d = ctx.data
          if d.handoff or not d.quote then return end
          if math.floor(ctx:now()) - (d.last_in or 0) >= WINDOW_SECONDS then
            return ctx:template("seguimiento_cotizacion", "es_MX",
                                { first_name(ctx) or "", money(d.quote.monthly) })
          end
          ctx:buttons("¿Pudiste revisar tu propuesta de " .. money(d.quote.monthly) ..
                      " al mes? Sigue vigente 🙂", {
            { id = "aceptar", title = "Aceptar" },
            { id = "asesor", title = "Hablar con asesor" },
          })
        end,
      },

      timeout = {
        after = "2h",
        run = function(ctx)
          if ctx.data.handoff then return end
          ctx:after(FOLLOW_UP_AFTER_TIMEOUT, "seguimiento")
          if ctx.data.proposal_reminded then return end
          ctx.data.proposal_reminded = true
          ctx:buttons("¿Pudiste revisar tu propuesta? Si tienes dudas, un asesor te ayuda.", {
            { id = "aceptar", title = "Aceptar" },
            { id = "asesor", title = "Hablar con asesor" },
          })
        end,
      },
    },

    FINALIZADO = {
      enter = function(ctx)
        local d = ctx.data
        d.accepted_at = math.floor(ctx:now())
        d.folio = string.format("VIDA-%s-%05d", (ctx.phone or ""):sub(-4), d.accepted_at % 100000)
        ctx:log("propuesta aceptada " .. d.folio)
        emit(ctx, "quote.accepted", { folio = d.folio, telefono = ctx.phone, edad = d.age,
          fumador = d.smoker, suma_asegurada = d.coverage, dependientes = d.dependents,
          prima_mensual = d.quote and d.quote.monthly, prima_anual = d.quote and d.quote.annual })
        local name = first_name(ctx)
        ctx:say(string.format(
          "🎉 ¡Gracias%s! Tu solicitud quedó registrada con el folio *%s*.\n\n%s\n" ..
          "• Prima: %s al mes (%s al año)\n\n" ..
          "Un asesor te contactará por aquí para completar los datos de la póliza " ..
          "(identificación y beneficiarios).",
          name and (", " .. name) or "", d.folio, profile_summary(d),
          d.quote and money(d.quote.monthly) or "-", d.quote and money(d.quote.annual) or "-"))
      end,

      message = function(ctx, msg)
        local text = msg.text or ""
        local n = normalize(text)
        local id = msg.button and msg.button.id
        seen(ctx)
        if id == "nueva" or n:find("nueva", 1, true) or n:find("otra cotiz", 1, true)
            or n:find("cotizar", 1, true) or n:find("de nuevo", 1, true) then
          ctx.data = {}
          return "NEEDS_ANALYSIS"
        end
        if id == "adios" or has_word(text, {
            gracias = true, adios = true, bye = true, no = true, nada = true, listo = true }) then
          return ctx:say("¡Con gusto! Aquí estaré cuando me necesites. Que tengas un excelente día 👋")
        end
        if has_word(text, ADVISOR_WORDS) then
          ctx.data.handoff = true
          ctx:say("¡Claro! Un asesor te escribirá por aquí en breve 🙌")
          return ctx:handoff("pidió asesor después de aceptar")
        end
        ctx:buttons("Tu solicitud " .. (ctx.data.folio or "") .. " ya está registrada ✅ " ..
                    "¿Quieres hacer una nueva cotización?", {
          { id = "nueva", title = "Nueva cotización" },
          { id = "adios", title = "No, gracias" },
        })
      end,
    },
  },
}
