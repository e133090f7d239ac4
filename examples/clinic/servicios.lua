--[[
servicios.lua — the clinic's catalogue: specialties, their services, prices (CLP) and
the words a customer may type for each. Constant data, shared by every conversation
(see "require" in docs/flows.md). Titles are WhatsApp list rows: at most 24 characters;
descriptions at most 72.
]]

local M = {}

M.ESPECIALIDADES = {
  { id = "laser", titulo = "Depilación láser", claves = { "depila", "laser" },
    servicios = {
      { id = "laser_axilas", titulo = "Láser axilas", precio = 29990, minutos = 20,
        claves = { "axila" } },
      { id = "laser_piernas", titulo = "Láser piernas completas", precio = 59990, minutos = 45,
        claves = { "pierna" } },
      { id = "laser_rostro", titulo = "Láser rostro", precio = 24990, minutos = 15,
        claves = { "rostro", "bozo", "cara" } },
    } },
  { id = "facial", titulo = "Estética facial", claves = { "facial", "cutis" },
    servicios = {
      { id = "limpieza", titulo = "Limpieza facial profunda", precio = 45000, minutos = 60,
        claves = { "limpieza" } },
      { id = "peeling", titulo = "Peeling químico", precio = 55000, minutos = 45,
        claves = { "peeling", "quimico" } },
      { id = "rf_facial", titulo = "Radiofrecuencia facial", precio = 39990, minutos = 40,
        claves = { "radiofrecuencia facial" } },
    } },
  { id = "corporal", titulo = "Estética corporal", claves = { "corporal", "cuerpo" },
    servicios = {
      { id = "rf_corporal", titulo = "Radiofrecuencia corporal", precio = 49990, minutos = 50,
        claves = { "radiofrecuencia corporal", "reafirm" } },
      { id = "masaje", titulo = "Masaje reductor", precio = 35000, minutos = 45,
        claves = { "masaje", "reductor" } },
    } },
  { id = "evaluacion", titulo = "Evaluación", claves = { "evaluacion", "consulta" },
    servicios = {
      { id = "evaluacion", titulo = "Consulta de evaluación", precio = 0, minutos = 20,
        claves = { "evaluacion", "consulta" } },
    } },
}

-- 29990 -> "$29.990"; 0 -> "gratis" (Chilean format).
function M.precio(n)
  if n == 0 then return "gratis" end
  local s = tostring(math.floor(n)):reverse():gsub("(%d%d%d)", "%1."):reverse()
  return "$" .. s:gsub("^%.", "")
end

function M.especialidad(id)
  for _, e in ipairs(M.ESPECIALIDADES) do
    if e.id == id then return e end
  end
  return nil
end

-- The service with this id and its specialty.
function M.servicio(id)
  for _, e in ipairs(M.ESPECIALIDADES) do
    for _, s in ipairs(e.servicios) do
      if s.id == id then return s, e end
    end
  end
  return nil
end

-- The lowest price of a specialty, for "desde $X" in the list.
function M.desde(e)
  local min
  for _, s in ipairs(e.servicios) do
    if not min or s.precio < min then min = s.precio end
  end
  return min or 0
end

-- A service named in normalized text ("quiero depilarme las axilas"), else nil.
function M.buscar_servicio(texto)
  for _, e in ipairs(M.ESPECIALIDADES) do
    for _, s in ipairs(e.servicios) do
      for _, k in ipairs(s.claves) do
        if texto:find(k, 1, true) then return s, e end
      end
    end
  end
  return nil
end

-- A specialty named in normalized text, else nil.
function M.buscar_especialidad(texto)
  for _, e in ipairs(M.ESPECIALIDADES) do
    for _, k in ipairs(e.claves) do
      if texto:find(k, 1, true) then return e end
    end
  end
  return nil
end

return M
