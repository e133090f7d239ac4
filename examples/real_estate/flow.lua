--[[
real_estate/flow.lua — lead qualifier for a real-estate agency (STRATO Propiedades, Argentina).

  INICIO ─▶ OPERACION ─▶ ZONA ─▶ PRESUPUESTO ─▶ DORMITORIOS ─▶ DERIVADO (handoff to an agent)
                │ "Vender mi propiedad" ─────────────────────────────▲
                └ "Nueva búsqueda" from DERIVADO comes back here

Each question is its own state: enter asks, message validates and either stores the
answer in ctx.data and returns the next state, or re-asks with an example (stays).
The qualified lead ends in ctx.data.lead and in the handoff reason, so the agent who
takes the conversation over (admin API / CRM) sees it at a glance. Buying budgets are
in USD and rents in pesos per month, as is usual in Argentina.
]]

local ADVISOR = { asesor = true, asesora = true, agente = true, humano = true, persona = true,
                  vendedor = true, corredor = true }

local function normalize(text)
  local accents = { ["á"] = "a", ["é"] = "e", ["í"] = "i", ["ó"] = "o", ["ú"] = "u", ["ñ"] = "n",
                    ["Á"] = "a", ["É"] = "e", ["Í"] = "i", ["Ó"] = "o", ["Ú"] = "u" }
  return (string.lower(text or ""):gsub("\195[\128-\191]", accents))
end

local function wants_agent(text)
  for w in normalize(text):gmatch("%a+") do
    if ADVISOR[w] then return true end
  end
  return false
end

local function operation_in(text)
  local n = normalize(text)
  if n:find("compr") then return "compra" end
  if n:find("alquil") or n:find("rent") then return "alquiler" end
  if n:find("vend") or n:find("tasa") then return "venta" end
  return nil
end

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

local function thousands(n)
  local s = tostring(math.floor(n)):reverse():gsub("(%d%d%d)", "%1."):reverse()
  return (s:gsub("^%.", ""))
end

local function budget_text(d)
  return (d.moneda == "USD" and "USD " or "$ ") .. thousands(d.presupuesto) ..
         (d.operacion == "alquiler" and " por mes" or "")
end

local function bedrooms_text(n)
  if n == 0 then return "monoambiente" end
  if n >= 3 then return n .. " o más dormitorios" end
  return n .. (n == 1 and " dormitorio" or " dormitorios")
end

-- At least one word of 3+ letters that is not part of an amount ("600 mil pesos").
local NOT_PLACE = { mil = true, usd = true, pesos = true, dolares = true, millones = true }
local function looks_like_place(text)
  for w in normalize(text):gmatch("%a+") do
    if #w >= 3 and not NOT_PLACE[w] then return true end
  end
  return false
end

local function agent_handoff(ctx, reason)
  ctx:say("¡Claro! Un asesor te escribe por aquí en breve 🙌")
  return ctx:handoff(reason)
end

return {
  name = "real_estate",
  version = 1,
  initial = "INICIO",
  description = "STRATO Propiedades: califica leads (operación, zona, presupuesto, dormitorios).",
  fallback = "Perdón, tuve un problema 🙏 ¿Me lo escribes de nuevo?",
  double_text = { debounce_ms = 1500 },

  states = {
    INICIO = {
      enter = function(ctx)
        local name = ctx.name and ctx.name:match("^(%S+)")
        ctx:say(string.format("¡Hola%s! 🏠 Soy el asistente de *STRATO Propiedades*. " ..
          "Con 4 preguntas te paso con un asesor que te mandará opciones a tu medida.",
          name and (" " .. name) or ""))
      end,
      message = function(ctx, msg)
        local op = operation_in(msg.text)     -- "quiero alquilar en Palermo" skips a question
        if op == "venta" then
          ctx.data.operacion = op
          return "DERIVADO"
        elseif op == "compra" or op == "alquiler" then
          ctx.data.operacion = op
          return "ZONA"
        end
        return "OPERACION"
      end,
    },

    OPERACION = {
      enter = function(ctx)
        ctx:buttons("¿Qué estás buscando?", {
          { id = "compra", title = "Comprar" },
          { id = "alquiler", title = "Alquilar" },
          { id = "venta", title = "Vender mi propiedad" },
        })
      end,
      message = function(ctx, msg)
        local op = (msg.button and msg.button.id) or operation_in(msg.text)
        if op == "venta" then
          ctx.data.operacion = "venta"
          return "DERIVADO"
        elseif op == "compra" or op == "alquiler" then
          ctx.data.operacion = op
          return "ZONA"
        elseif wants_agent(msg.text) then
          return agent_handoff(ctx, "pidió asesor")
        end
        ctx:buttons("Elige una opción para seguir 👇", {
          { id = "compra", title = "Comprar" },
          { id = "alquiler", title = "Alquilar" },
          { id = "venta", title = "Vender mi propiedad" },
        })
      end,
    },

    ZONA = {
      enter = function(ctx)
        ctx:say("¿En qué zona o barrio? Puedes nombrar varios (ej.: Palermo, Belgrano o Núñez).")
      end,
      message = function(ctx, msg)
        local text = (msg.text or ""):gsub("^%s+", ""):gsub("%s+$", "")
        if wants_agent(text) then return agent_handoff(ctx, "pidió asesor") end
        if text:find("?", 1, true) or not looks_like_place(text) then
          return ctx:say("Cuéntame la zona o barrio que te interesa, por ejemplo: Palermo 🙂")
        end
        ctx.data.zona = text:sub(1, 80)
        return "PRESUPUESTO"
      end,
    },

    PRESUPUESTO = {
      enter = function(ctx)
        if ctx.data.operacion == "alquiler" then
          ctx:say("¿Cuánto quieres pagar de alquiler por mes, aprox.? (ej.: 600 mil pesos)")
        else
          ctx:say("¿Cuál es tu presupuesto aproximado en dólares? (ej.: 150 mil USD)")
        end
      end,
      message = function(ctx, msg)
        if wants_agent(msg.text) then return agent_handoff(ctx, "pidió asesor") end
        local amount, currency = parse_amount(msg.text or "")
        if not amount or amount < 100 then
          return ctx:say("No entendí el monto 🤔 Escríbelo con números, por ejemplo: " ..
            (ctx.data.operacion == "alquiler" and "600 mil" or "150 mil USD"))
        end
        ctx.data.presupuesto = amount
        ctx.data.moneda = currency or (ctx.data.operacion == "alquiler" and "ARS" or "USD")
        return "DORMITORIOS"
      end,
    },

    DORMITORIOS = {
      enter = function(ctx)
        ctx:buttons("¿Cuántos dormitorios necesitas? (si buscas monoambiente, escríbelo)", {
          { id = "1", title = "1 dormitorio" },
          { id = "2", title = "2 dormitorios" },
          { id = "3", title = "3 o más" },
        })
      end,
      message = function(ctx, msg)
        local text = normalize(msg.text)
        local n = tonumber(msg.button and msg.button.id or text:match("%d+") or "")
        if not n and (text:find("mono") or text:find("studio")) then n = 0 end
        if not n and wants_agent(text) then return agent_handoff(ctx, "pidió asesor") end
        if not n or n > 10 then
          return ctx:say("Escríbeme un número de dormitorios, por ejemplo: 2")
        end
        ctx.data.dormitorios = n
        return "DERIVADO"
      end,
    },

    DERIVADO = {
      enter = function(ctx)
        local d = ctx.data
        if d.operacion == "venta" then
          ctx:say("¡Excelente! Un asesor de captación te escribirá por aquí para coordinar " ..
                  "una tasación sin cargo 🏡")
          return ctx:handoff("quiere vender / tasar su propiedad")
        end
        d.lead = {
          operacion = d.operacion, zona = d.zona, presupuesto = d.presupuesto,
          moneda = d.moneda, dormitorios = d.dormitorios, telefono = ctx.phone,
          creado = ctx:now(),
        }
        local summary = string.format("%s en %s, %s, %s",
          d.operacion == "compra" and "Compra" or "Alquiler", d.zona, budget_text(d),
          bedrooms_text(d.dormitorios))
        ctx:say("¡Gracias! 🙌 Esto es lo que buscas:\n\n🏠 " .. summary .. "\n\n" ..
                "Un asesor te contactará por aquí en las próximas horas con propiedades " ..
                "que encajen.")
        ctx:log("lead calificado: " .. summary)
        ctx:handoff("lead calificado: " .. summary)
      end,
      message = function(ctx, msg)
        if (msg.button and msg.button.id == "nueva") or normalize(msg.text):find("nueva") then
          ctx.data = {}
          return "OPERACION"
        end
        ctx:buttons("Ya le pasé tus datos a un asesor, te escribirá pronto 🙂", {
          { id = "nueva", title = "Nueva búsqueda" },
        })
      end,
    },
  },
}
