--[[
catalogo.lua — STRATO Propiedades' listings, as a Lua data module.

Why a data module and not an HTTP catalogue: an agency's stock changes a few times a
day, not between two messages, so the flow reads it from memory — no latency, no
failure mode in the middle of a conversation, and the flow tests need no scripted
HTTP. Publishing new stock is replacing this file (exported from the CRM) and
reloading the flows. An agency with a live API would call it with ctx:http in
RESULTADOS instead of `buscar`.

Prices: sales in USD, rents in ARS per month. Photos are links WhatsApp downloads:
replace the example.com URLs with the agency's own (public HTTPS) images.
]]

local FOTOS = "https://strato-propiedades.example/fotos/"

local M = {}

-- Zone id -> how customers write it (normalized, no accents) and how to show it.
M.ZONAS = {
  { id = "palermo", nombre = "Palermo", claves = { "palermo" } },
  { id = "belgrano", nombre = "Belgrano", claves = { "belgrano" } },
  { id = "nunez", nombre = "Núñez", claves = { "nunez" } },
  { id = "recoleta", nombre = "Recoleta", claves = { "recoleta", "barrio norte" } },
  { id = "caballito", nombre = "Caballito", claves = { "caballito" } },
  { id = "villa_urquiza", nombre = "Villa Urquiza", claves = { "urquiza" } },
  { id = "colegiales", nombre = "Colegiales", claves = { "colegiales" } },
}

M.PROPIEDADES = {
  { id = "PAL-101", operacion = "compra", zona = "palermo", dormitorios = 2, m2 = 68,
    precio = 185000, moneda = "USD", titulo = "2 dorm. con balcón en Palermo Soho",
    direccion = "Gurruchaga 1650, Palermo", lat = -34.5889, lon = -58.4301 },
  { id = "PAL-102", operacion = "compra", zona = "palermo", dormitorios = 1, m2 = 45,
    precio = 129000, moneda = "USD", titulo = "1 dorm. luminoso en Palermo Hollywood",
    direccion = "Fitz Roy 1920, Palermo", lat = -34.5803, lon = -58.4369 },
  { id = "PAL-103", operacion = "compra", zona = "palermo", dormitorios = 3, m2 = 110,
    precio = 320000, moneda = "USD", titulo = "3 dorm. con cochera, Palermo Chico",
    direccion = "Av. Figueroa Alcorta 3300, Palermo", lat = -34.5774, lon = -58.4063 },
  { id = "PAL-201", operacion = "alquiler", zona = "palermo", dormitorios = 2, m2 = 62,
    precio = 850000, moneda = "ARS", titulo = "2 dorm. amoblado en Palermo",
    direccion = "Thames 2100, Palermo", lat = -34.5862, lon = -58.4296 },
  { id = "PAL-202", operacion = "alquiler", zona = "palermo", dormitorios = 1, m2 = 40,
    precio = 620000, moneda = "ARS", titulo = "1 dorm. a metros del subte D",
    direccion = "Av. Santa Fe 3800, Palermo", lat = -34.5859, lon = -58.4161 },
  { id = "BEL-101", operacion = "compra", zona = "belgrano", dormitorios = 2, m2 = 75,
    precio = 175000, moneda = "USD", titulo = "2 dorm. con amenities en Belgrano R",
    direccion = "Virrey del Pino 2600, Belgrano", lat = -34.5657, lon = -58.4558 },
  { id = "BEL-102", operacion = "compra", zona = "belgrano", dormitorios = 3, m2 = 96,
    precio = 240000, moneda = "USD", titulo = "3 dorm. frente al Barrancas",
    direccion = "11 de Septiembre 1800, Belgrano", lat = -34.5603, lon = -58.4467 },
  { id = "BEL-201", operacion = "alquiler", zona = "belgrano", dormitorios = 2, m2 = 58,
    precio = 780000, moneda = "ARS", titulo = "2 dorm. con balcón en Belgrano",
    direccion = "Av. Cabildo 2200, Belgrano", lat = -34.5622, lon = -58.4560 },
  { id = "NUN-101", operacion = "compra", zona = "nunez", dormitorios = 2, m2 = 64,
    precio = 158000, moneda = "USD", titulo = "2 dorm. a estrenar en Núñez",
    direccion = "Av. del Libertador 7600, Núñez", lat = -34.5455, lon = -58.4623 },
  { id = "NUN-201", operacion = "alquiler", zona = "nunez", dormitorios = 3, m2 = 90,
    precio = 1100000, moneda = "ARS", titulo = "3 dorm. con jardín en Núñez",
    direccion = "Crisólogo Larralde 2100, Núñez", lat = -34.5468, lon = -58.4716 },
  { id = "REC-101", operacion = "compra", zona = "recoleta", dormitorios = 3, m2 = 120,
    precio = 290000, moneda = "USD", titulo = "3 dorm. estilo francés en Recoleta",
    direccion = "Av. Alvear 1700, Recoleta", lat = -34.5889, lon = -58.3870 },
  { id = "REC-201", operacion = "alquiler", zona = "recoleta", dormitorios = 0, m2 = 32,
    precio = 520000, moneda = "ARS", titulo = "Monoambiente en Recoleta",
    direccion = "Junín 1200, Recoleta", lat = -34.5925, lon = -58.3935 },
  { id = "CAB-101", operacion = "compra", zona = "caballito", dormitorios = 2, m2 = 60,
    precio = 119000, moneda = "USD", titulo = "2 dorm. junto a Parque Centenario",
    direccion = "Av. Díaz Vélez 4800, Caballito", lat = -34.6066, lon = -58.4335 },
  { id = "CAB-201", operacion = "alquiler", zona = "caballito", dormitorios = 2, m2 = 55,
    precio = 690000, moneda = "ARS", titulo = "2 dorm. en Caballito Norte",
    direccion = "Av. Acoyte 300, Caballito", lat = -34.6119, lon = -58.4366 },
  { id = "URQ-101", operacion = "compra", zona = "villa_urquiza", dormitorios = 3, m2 = 85,
    precio = 199000, moneda = "USD", titulo = "3 dorm. con terraza en Urquiza",
    direccion = "Av. Triunvirato 4500, Villa Urquiza", lat = -34.5747, lon = -58.4868 },
  { id = "COL-201", operacion = "alquiler", zona = "colegiales", dormitorios = 1, m2 = 42,
    precio = 590000, moneda = "ARS", titulo = "1 dorm. en PH de Colegiales",
    direccion = "Conesa 600, Colegiales", lat = -34.5753, lon = -58.4501 },
}

for _, p in ipairs(M.PROPIEDADES) do
  p.foto = FOTOS .. p.id .. ".jpg"
end

function M.zona(id)
  for _, z in ipairs(M.ZONAS) do
    if z.id == id then return z end
  end
  return nil
end

function M.propiedad(id)
  for _, p in ipairs(M.PROPIEDADES) do
    if p.id == id then return p end
  end
  return nil
end

-- The zones named in normalized text, as a list of ids (empty when none).
function M.zonas_en(texto)
  local found = {}
  for _, z in ipairs(M.ZONAS) do
    for _, k in ipairs(z.claves) do
      if texto:find(k, 1, true) then
        found[#found + 1] = z.id
        break
      end
    end
  end
  return found
end

-- Listings for a search { operacion, zonas (ids; empty = any), presupuesto, dorm_min,
-- dorm_max }, cheapest first, at most `limit`. `holgura` (e.g. 0.15) lets the price go
-- that much over the budget and the bedrooms one either side, for a second try.
function M.buscar(b, limit, holgura)
  local zonas = {}
  for _, z in ipairs(b.zonas or {}) do zonas[z] = true end
  local tope = b.presupuesto * (1 + (holgura or 0))
  local extra = holgura and 1 or 0
  local found = {}
  for _, p in ipairs(M.PROPIEDADES) do
    if p.operacion == b.operacion and (next(zonas) == nil or zonas[p.zona]) and p.precio <= tope
        and p.dormitorios >= b.dorm_min - extra and p.dormitorios <= b.dorm_max + extra then
      found[#found + 1] = p
    end
  end
  table.sort(found, function(x, y) return x.precio < y.precio end)
  local out = {}
  for i = 1, math.min(limit, #found) do out[i] = found[i] end
  return out
end

return M
