---@meta charla
-- LuaLS (lua-language-server) annotations for charla flows and flow tests: ctx, msg,
-- the flow table and the `charla test` API. Not loaded by charla; editors read it.
-- Setup (VS Code with sumneko.lua, Neovim with lua_ls): see docs/flows.md, "Editor
-- support". Keep in step with docs/flows.md when the ctx API changes.

-------------------------------------------------------------------------------
-- Flow table
-------------------------------------------------------------------------------

---A flow file returns this table.
---@class charla.Flow
---@field name string The flow's name; configuration refers to flows by it.
---@field version? integer Stored with each conversation; bump it when states change.
---@field initial string The state a new conversation starts in.
---@field states table<string, charla.State> State name → state table.
---@field description? string Free text for `charla check`/`graph` and the admin API.
---@field fallback? string Sent when a turn fails.
---@field llm_fallback? string Sent instead of `fallback` when the failed turn had a failed LLM call.
---@field double_text? { debounce_ms: integer } Merge quick consecutive texts into one turn.
---@field window_template? { name: string, language: string, components?: table } Template sent after the 24 h window closed.
---@field timers? table<string, fun(ctx: charla.Ctx, payload: any): string?> Flow-wide timer handlers.
---@field migrate? fun(ctx: charla.Ctx, old_state: string): string? State for a conversation whose state no longer exists.
---@field timezone? string IANA zone for ctx:clock, dates and open_hours, e.g. "America/Santiago" (default "UTC").
---@field open_hours? charla.OpenHours Business hours for ctx:is_open / ctx:next_open / ctx:hours_text.

---Business hours in the flow's timezone. Keys: mon, tue, wed, thu, fri, sat, sun or a
---span such as mon_fri / sat_sun (a single day overrides a span). Values:
---"09:00-19:00", several ranges "09:00-13:00,15:00-19:00", or "closed".
---@class charla.OpenHours
---@field mon? string
---@field tue? string
---@field wed? string
---@field thu? string
---@field fri? string
---@field sat? string
---@field sun? string
---@field mon_fri? string
---@field mon_sat? string
---@field mon_sun? string
---@field sat_sun? string
---@field [string] string

---@class charla.State
---@field enter? fun(ctx: charla.Ctx): string? The conversation arrives in this state; return a state to move on.
---@field message? fun(ctx: charla.Ctx, msg: charla.Msg): string? An inbound message while in this state.
---@field leave? fun(ctx: charla.Ctx): string? The conversation leaves this state.
---@field timeout? charla.Timeout No inbound message for `after`.
---@field timers? table<string, fun(ctx: charla.Ctx, payload: any): string?> Timers set with ctx:after.
---@field description? string
---@field final? boolean The conversation ends here (for `charla check`).

---@alias charla.Duration number|string Seconds, or "500ms", "90s", "30m", "2h", "1d".

---@class charla.Timeout
---@field after charla.Duration
---@field run fun(ctx: charla.Ctx): string?

-------------------------------------------------------------------------------
-- ctx
-------------------------------------------------------------------------------

---A time argument: epoch milliseconds, a local date text in the flow's zone
---("2026-03-03T10:00", "2026-03-03", or with an offset "2026-03-03T10:00:00-03:00"),
---or a table from ctx:clock.
---@alias charla.When integer|string|charla.Clock

---@class charla.Clock
---@field year integer
---@field month integer 1..12
---@field day integer 1..31
---@field hour integer 0..23
---@field min integer 0..59
---@field sec integer 0..59
---@field wday integer ISO weekday: 1 = lunes (Monday) .. 7 = domingo (Sunday)
---@field yday integer 1 = January 1st
---@field iso string "2026-03-03T10:00:00-03:00"
---@field epoch_ms integer
---@field zone string "America/Santiago"
---@field offset_min integer Local time minus UTC, in minutes (-180).

---@class charla.Button
---@field id string|integer
---@field title string At most 20 characters.

---@class charla.Row
---@field id string|integer
---@field title string At most 24 characters.
---@field description? string At most 72 characters.

---@class charla.Section
---@field title string
---@field rows (charla.Row|string)[]

---@class charla.MediaOptions
---@field link? string Exactly one of link and id.
---@field id? string
---@field caption? string
---@field filename? string

---@class charla.LocationOut
---@field latitude number
---@field longitude number
---@field name? string
---@field address? string

---@class charla.Error
---@field code string "timeout", "http", "rate_limited", ...
---@field message string

---@class charla.LlmArgs
---@field system? string System prompt.
---@field prompt? string The user message (or `messages`).
---@field messages? { role: "user"|"assistant"|"system", content: string }[]
---@field temperature? number
---@field max_tokens? integer
---@field json? boolean Ask for a JSON object and return it parsed.
---@field timeout? integer|string Milliseconds or a duration ("3s"), within the turn budget.

---@class charla.HttpArgs
---@field url string
---@field method? "GET"|"POST"|"PUT"|"PATCH"|"DELETE"
---@field headers? table<string, string>
---@field json? table Sent as a JSON body.
---@field body? string
---@field timeout? integer|string Milliseconds or a duration ("3s"), within the turn budget.

---@class charla.HttpResult
---@field status integer
---@field headers table<string, string>
---@field body string
---@field json? any The body parsed, when it is JSON.

---@class charla.HistoryEntry
---@field dir "in"|"out"
---@field type string
---@field ts integer Unix milliseconds.
---@field text? string
---@field id? string
---@field buttons? table

---The conversation as one turn sees it; dead after the turn.
---@class charla.Ctx
---@field data table The conversation's persisted table (JSON values only).
---@field settings table Read-only: this flow's block of the config's `flow_settings`.
---@field state string Read-only: the current state.
---@field phone string Read-only: the customer's address (wa_id or business-scoped id).
---@field name string Read-only: the customer's profile name, "" when unknown.
---@field channel "whatsapp"|"console" Read-only.
---@field conversation string Read-only: the conversation key.
---@field flow string Read-only: this flow's name.
---@field llm? fun(self: charla.Ctx, args: charla.LlmArgs|string): (string|table|nil, charla.Error?) Only when the llm plugin is configured.
---@field http? fun(self: charla.Ctx, args: charla.HttpArgs): (charla.HttpResult|nil, charla.Error?) Only when the http plugin is configured.
---@field emit? fun(self: charla.Ctx, name: string, payload?: table) An event for the configured event webhooks (when the engine has it).
local Ctx = {}

---Sends a text (at most 4096 characters).
---@param text string
function Ctx:say(text) end

---Sends 1–3 reply buttons (titles at most 20 characters).
---@param text string
---@param buttons (charla.Button|string)[]
function Ctx:buttons(text, buttons) end

---Sends a list message (at most 10 rows in total).
---@param text string
---@param button_label string At most 20 characters.
---@param rows_or_sections (charla.Row|string)[]|charla.Section[]
function Ctx:list(text, button_label, rows_or_sections) end

---Sends an approved template (allowed outside the 24 h window).
---@param name string
---@param language string "es_MX"
---@param params? (string|number)[]|{ components: table[] }
function Ctx:template(name, language, params) end

---@param kind "image"|"video"|"audio"|"document"|"sticker"
---@param opts charla.MediaOptions
function Ctx:media(kind, opts) end

---@param emoji string "" removes the reaction.
---@param message_id? string Default: the current inbound message.
function Ctx:react(emoji, message_id) end

---@param message_id? string
function Ctx:mark_read(message_id) end

---@param text string
---@param display_text string
---@param url string
function Ctx:cta_url(text, display_text, url) end

---@param location charla.LocationOut
function Ctx:location(location) end

---Moves to `state` when the handler returns (a returned state name wins).
---@param state string
function Ctx:go(state) end

---Schedules timer `name` after `duration` (durable; replaces a pending one).
---@param duration charla.Duration
---@param name string
---@param payload? any JSON value passed to the handler.
function Ctx:after(duration, name, payload) end

---@param name string
function Ctx:cancel(name) end

---A human agent takes over when the turn commits.
---@param reason? string
function Ctx:handoff(reason) end

---Writes to the engine's log, never to the customer.
---@param ... any
function Ctx:log(...) end

---The turn's time in unix seconds (with a millisecond fraction), from the engine clock.
---@return number
function Ctx:now() end

---@param n? integer
---@return charla.HistoryEntry[]
function Ctx:history(n) end

---@param n_or_opts? integer|{ last: integer }
---@return string|{ role: string, content: string }[]
function Ctx:transcript(n_or_opts) end

---Local calendar time of the turn (or of `when`) in `zone` (default: the flow's timezone).
---@param zone? string IANA name, e.g. "America/Santiago".
---@param when? charla.When
---@return charla.Clock
function Ctx:clock(zone, when) end

---Formats a time in Spanish, strftime-style: %A lunes, %a lun, %B marzo, %b mar, %d 03,
---%-d 3, %e 3, %m, %Y, %y, %H, %I, %p, %M, %S, %j, %u, %Z, %z, %F, %T, %R, %%.
---Default format "%A %-d de %B, %H:%M" → "martes 3 de marzo, 10:00".
---@param when charla.When
---@param format? string
---@param zone? string
---@return string
function Ctx:format_date(when, format, zone) end

---Reads a date text ("2026-03-03T10:00" local to the zone, "2026-03-03", or with an
---offset) as epoch milliseconds; nil, err when it is not one.
---@param text string
---@param zone? string
---@return integer|nil epoch_ms
---@return string? err
function Ctx:parse_date(text, zone) end

---Whether the flow's open_hours include now (or `when`). Raises without open_hours.
---@param when? charla.When
---@return boolean
function Ctx:is_open(when) end

---Epoch milliseconds of the next opening at or after now (or `when`): `when` itself
---when open then.
---@param when? charla.When
---@return integer|nil
function Ctx:next_open(when) end

---The open hours in Spanish: "lunes a viernes 09:00–19:00; sábado 10:00–14:00".
---@return string
function Ctx:hours_text() end

-------------------------------------------------------------------------------
-- msg
-------------------------------------------------------------------------------

---@class charla.Msg
---@field id string
---@field type "text"|"interactive"|"button"|"image"|"audio"|"video"|"document"|"sticker"|"location"|"contacts"|"reaction"|string
---@field text? string Text body, chosen button/row title, or media caption.
---@field from string
---@field name string
---@field timestamp number Unix seconds.
---@field button? { id: string, title: string }
---@field list? { id: string, title: string, description?: string }
---@field media? { id: string, mime_type: string, sha256?: string, caption?: string, filename?: string, voice?: boolean }
---@field location? { latitude: number, longitude: number, name?: string, address?: string }
---@field contacts? table[]
---@field reaction? { message_id: string, emoji?: string }
---@field context? { id?: string, from?: string, forwarded?: boolean, frequently_forwarded?: boolean }
---@field referral? { source_url?: string, source_id?: string, source_type?: string, headline?: string, body?: string }
---@field raw table The channel's original message object.

-------------------------------------------------------------------------------
-- charla test (files named *_test.lua)
-------------------------------------------------------------------------------

---@class charla.TestOptions
---@field phone? string The customer's address (default "5215550000001").
---@field name? string The customer's profile name.
---@field now? string|number Start of the fake clock: "2026-03-02T09:00:00-03:00", or unix seconds.
---@field llm? boolean Whether ctx.llm exists (scripted with t:llm_reply / t:llm_fail).
---@field http? boolean Whether ctx.http exists (scripted with t:http_reply / t:http_fail).
---@field settings? table The flow's ctx.settings, as the config's flow_settings block gives it.

---@class charla.Expectation
---@field contains? string Plain substring of the reply.
---@field matches? string A Lua pattern.
---@field equals? string The whole text.
---@field type? string "text", "buttons", "list", ...
---@field buttons? string[] The titles, in order.

---One conversation with a flow, on a fake clock and scripted plugins.
---@class charla.TestConversation
local T = {}

---Inbound texts; several at once are a double text (inside the debounce window).
---@param text string
---@param ... string
function T:user(text, ...) end

---Taps a reply button or list row of the last interactive message, by title or id.
---@param title_or_id string
function T:tap(title_or_id) end

---Any inbound message, e.g. { type = "location", location = { latitude = -33.4, longitude = -70.6 } }.
---@param message table
function T:send(message) end

---Moves the fake clock; due timers fire.
---@param duration charla.Duration
function T:advance(duration) end

---Starts the conversation afresh.
function T:reset() end

---@param expected charla.Expectation
function T:expect_reply(expected) end

function T:expect_no_reply() end

---@param state string
function T:expect_state(state) end

---@param key string
---@param value any
function T:expect_data(key, value) end

---@param reason? string
function T:expect_handoff(reason) end

---@param name string
---@param after? charla.Duration
function T:expect_timer(name, after) end

---@param name string
function T:expect_no_timer(name) end

---@param name string
---@param fields? table Payload fields that must match.
function T:expect_emit(name, fields) end

---@return string state
function T:state() end

---@return table data
function T:data() end

---@return table[] replies The outbound messages of the last step.
function T:replies() end

---@return integer now_ms The fake clock.
function T:now() end

---Scripts the next matching ctx:llm answer.
---@param script { match?: string, reply?: string, json?: table }
function T:llm_reply(script) end

---Makes the next (matching) ctx:llm call fail with `code` (default "timeout").
---@param code? string
---@param spec? { match?: string }
function T:llm_fail(code, spec) end

---Scripts the next matching ctx:http answer.
---@param script { url?: string, method?: string, status?: integer, json?: any, body?: string }
function T:http_reply(script) end

---t:http_fail(503): the server answers 503; t:http_fail("timeout"): the call fails.
---@param status_or_code integer|string
---@param spec? { url?: string, method?: string }
function T:http_fail(status_or_code, spec) end

---@class charla.TestModule
charla = {}

---Starts a conversation with the flow at `path` (relative to the test file).
---@param path string
---@param opts? charla.TestOptions
---@return charla.TestConversation
function charla.test(path, opts) end

---Declares a test.
---@param name string
---@param body fun()
function test(name, body) end
