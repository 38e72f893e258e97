-- cnnc.main: the script bin/cnnc runs.
-- Turns an escaped internal error into a short report instead of a bare traceback.
local ok, err = xpcall(function() require('cnnc.cli').main(arg) end, debug.traceback)
if not ok then
  io.stderr:write('cnnc: internal error (a bug in cnnc, please report it):\n', tostring(err), '\n')
  os.exit(70)
end
