-- cnnc.ffi.progress: a one-line progress display for long loops, and a wall clock.
--
--   local p = cnnc.progress(60000, 'features')
--   for i = 1, 60000, 500 do ...; p:update(i + 499) end
--   p:done()            -- "features: 60000 in 3.1 s"
-- On a terminal the line is redrawn in place (at most 5 times a second) with the rate and
-- the time left; when stderr is not a terminal (logs, test runs) only the final line is
-- written, so logs stay readable. Quiet mode (quiet = true, or $CNNC_QUIET set) writes
-- nothing at all.

local ffi = require 'ffi'

ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } cnnc_timespec;
int clock_gettime(int clk_id, cnnc_timespec *tp);
int isatty(int fd);
]]

local M = {}

local ts = ffi.new('cnnc_timespec')
-- Seconds on a monotonic clock (CLOCK_MONOTONIC = 1 on Linux).
function M.clock()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local P = {}
P.__index = P

function M.new(total, label, opts)
  opts = opts or {}
  local quiet = opts.quiet or (os.getenv('CNNC_QUIET') or '') ~= ''
  return setmetatable({ total = total, label = label or 'progress', start = M.clock(), last = 0, quiet = quiet,
    tty = ffi.C.isatty(2) == 1, done_n = 0 }, P)
end

function P:update(done)
  self.done_n = done
  if self.quiet or not self.tty then return end
  local now = M.clock()
  if now - self.last < 0.2 and done < self.total then return end
  self.last = now
  local el = now - self.start
  local rate = done / math.max(el, 1e-9)
  local left = rate > 0 and (self.total - done) / rate or 0
  io.stderr:write(string.format('\r%s: %d/%d (%d%%) %.1f s, %.0f/s, %.0f s left   ', self.label, done, self.total,
    math.floor(100 * done / math.max(self.total, 1)), el, rate, left))
end

-- Ends the display; `extra` is appended to the final line. Returns the elapsed seconds.
function P:done(extra)
  local el = M.clock() - self.start
  if not self.quiet then
    io.stderr:write(string.format('%s%s: %d in %.2f s%s%s\n', self.tty and '\r' or '', self.label, self.done_n, el,
      extra and (', ' .. extra) or '', self.tty and '\27[K' or ''))
  end
  return el
end

return M
