-- luacheck for the Prosody modules (prosody/): Prosody runs them on Lua 5.4
-- with the module API as the global "module".
std = "lua54"
max_line_length = false
files["prosody/"] = {
	globals = { "module" },
	read_globals = { "prosody" },
}
