--[[
fechas.lua — dates of the agenda in Spanish, and the clinic's opening hours.

The agenda server speaks ISO 8601 with the clinic's UTC offset
("2026-03-03T10:00:00-03:00"): its wall-clock fields are already the clinic's local
time, so formatting them needs no time-zone database, and the offset gives the exact
instant for the reminder timer. "Now" in local time comes from ctx:clock(zone) (the
engine's clock, so `charla test`'s fake clock governs it); an engine without
ctx:clock falls back to a fixed offset.
]]

local M = {}

M.ZONA = "America/Santiago"
local OFFSET_RESPALDO_MIN = -180       -- Santiago in summer (used only without ctx:clock)

local DIAS = { "domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado" }
local DIAS_CORTOS = { "dom", "lun", "mar", "mié", "jue", "vie", "sáb" }
local MESES = { "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                "septiembre", "octubre", "noviembre", "diciembre" }

-- Opening hours by weekday (0 = domingo), minutes since midnight [abre, cierra).
M.HORARIO = { [1] = { 540, 1140 }, [2] = { 540, 1140 }, [3] = { 540, 1140 },
              [4] = { 540, 1140 }, [5] = { 540, 1140 }, [6] = { 600, 840 } }
M.HORARIO_TEXTO = "lunes a viernes de 09:00 a 19:00 y sábados de 10:00 a 14:00"

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
local function dias_desde_epoca(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- "2026-03-03T10:00:00-03:00" -> { year, month, day, hour, min, wday (0 = domingo),
-- epoch (unix seconds) }, or nil when the text is not such a date with an offset.
function M.leer(iso)
  if type(iso) ~= "string" then return nil end
  local y, mo, d, h, mi, resto = iso:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 then return nil end
  local offset
  local signo, oh, om = resto:match("([+-])(%d%d):?(%d%d)$")
  if signo then
    offset = (tonumber(oh) * 60 + tonumber(om)) * (signo == "-" and -1 or 1)
  elseif resto:match("Z$") then
    offset = 0
  else
    return nil                      -- without an offset the instant is ambiguous
  end
  local dias = dias_desde_epoca(y, mo, d)
  return { year = y, month = mo, day = d, hour = h, min = mi, wday = (dias + 4) % 7,
           epoch = dias * 86400 + h * 3600 + mi * 60 - offset * 60 }
end

-- "martes 3 de marzo a las 10:00"
function M.largo(t)
  return string.format("%s %d de %s a las %02d:%02d", DIAS[t.wday + 1], t.day, MESES[t.month],
                       t.hour, t.min)
end

-- "mar 3 mar · 10:00" (fits a list row title: at most 24 characters)
function M.corto(t)
  return string.format("%s %d %s · %02d:%02d", DIAS_CORTOS[t.wday + 1], t.day,
                       MESES[t.month]:sub(1, 3), t.hour, t.min)
end

-- The clinic's local time now: { wday (0 = domingo), hour, min }.
function M.ahora(ctx)
  if ctx.clock then
    local c = ctx:clock(M.ZONA)
    return { wday = c.wday % 7, hour = c.hour, min = c.min }   -- ISO 7 = domingo -> 0
  end
  local s = math.floor(ctx:now()) + OFFSET_RESPALDO_MIN * 60
  local dia = s // 86400
  return { wday = (dia + 4) % 7, hour = s % 86400 // 3600, min = s % 3600 // 60 }
end

function M.abierto(ctx)
  local t = M.ahora(ctx)
  local rango = M.HORARIO[t.wday]
  local minuto = t.hour * 60 + t.min
  return rango ~= nil and minuto >= rango[1] and minuto < rango[2]
end

return M
