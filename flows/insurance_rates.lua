-- insurance_rates.lua — the premium table used by flows/insurance.lua.
--
-- ILLUSTRATIVE NUMBERS ONLY. They have the shape of a Mexican term-life tariff
-- (premium grows with age, smokers pay more, a rider per dependent) but they are
-- not any insurer's tariff and must not be shown to real customers as a binding
-- price. A broker replaces `bands` and the factors below with their own table; the
-- flow only calls `rates.quote{...}` and never reads the numbers directly.
--
-- Formula (all amounts in MXN):
--   annual  = rate_per_1000(age band) * (coverage / 1000)
--             * smoker_factor (if smoker)
--             * (1 + rider_per_dependent * min(dependents, rider_max_dependents))
--   annual  = max(annual, min_annual)
--   monthly = annual * (1 + monthly_surcharge) / 12     -- paying monthly costs a bit more
--
-- Loaded with `require("insurance_rates")`; a module is evaluated once per Lua VM
-- and shared by every conversation on that worker, so it holds constants only.

local rates = {
  currency = "MXN",

  -- Annual premium per 1,000 MXN of coverage for a non-smoker, by age band.
  bands = {
    { min = 18, max = 25, rate = 0.90 },
    { min = 26, max = 30, rate = 1.00 },
    { min = 31, max = 35, rate = 1.15 },
    { min = 36, max = 40, rate = 1.45 },
    { min = 41, max = 45, rate = 1.95 },
    { min = 46, max = 50, rate = 2.80 },
    { min = 51, max = 55, rate = 4.10 },
    { min = 56, max = 60, rate = 6.20 },
    { min = 61, max = 65, rate = 9.40 },
    { min = 66, max = 70, rate = 14.50 },
    { min = 71, max = 75, rate = 22.00 },
  },

  smoker_factor = 1.75,          -- smokers (incl. vaping, last 12 months) pay 75% more
  rider_per_dependent = 0.03,    -- "protección familiar": +3% per dependent ...
  rider_max_dependents = 10,     -- ... counted up to 10 dependents (+30% at most)
  monthly_surcharge = 0.05,      -- fractional-payment surcharge for monthly payments
  min_annual = 600,              -- minimum annual premium

  min_coverage = 100000,
  max_coverage = 10000000,
  min_age = 18,
  max_age = 75,
}

local function round2(x)
  return math.floor(x * 100 + 0.5) / 100
end

-- Returns the band table for an age, or nil when the age is outside the tariff.
function rates.band(age)
  for _, band in ipairs(rates.bands) do
    if age >= band.min and age <= band.max then
      return band
    end
  end
  return nil
end

-- profile = { age=, smoker=, coverage=, dependents= }
-- Returns { annual=, monthly=, rate=, band="31-35", smoker_factor=, rider= } or nil, why.
function rates.quote(profile)
  local band = rates.band(profile.age or -1)
  if not band then
    return nil, "age outside the tariff"
  end
  local coverage = profile.coverage or 0
  if coverage < rates.min_coverage or coverage > rates.max_coverage then
    return nil, "coverage outside the tariff"
  end
  local dependents = math.min(profile.dependents or 0, rates.rider_max_dependents)
  local smoker_factor = profile.smoker and rates.smoker_factor or 1.0
  local rider = 1 + rates.rider_per_dependent * dependents

  local annual = band.rate * (coverage / 1000) * smoker_factor * rider
  annual = math.max(annual, rates.min_annual)
  local monthly = annual * (1 + rates.monthly_surcharge) / 12

  return {
    annual = round2(annual),
    monthly = round2(monthly),
    rate = band.rate,
    band = band.min .. "-" .. band.max,
    smoker_factor = smoker_factor,
    rider = round2(rider),
    currency = rates.currency,
  }
end

return rates
