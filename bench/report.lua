-- bench/report.lua: the records bench/run.sh collected become a table on stdout and
-- bench/results.md.
--
--   luajit bench/report.lua build/bench/results.tsv bench/results.md
--
-- Input: one record a line, a kind then tab-separated key=value fields (machine, config,
-- peak, net, build, time, skip, check, layer, onednn, ort, pair, batch, workspan, grad, train, total; see
-- bench/run.sh). This file
-- only formats: every number comes from a record, and a missing one shows as '-'.

local res_path, md_path = arg[1], arg[2]
if not (res_path and md_path) then
  io.stderr:write('usage: luajit bench/report.lua RESULTS.tsv RESULTS.md\n')
  os.exit(2)
end

local recs = {}
for line in io.lines(res_path) do
  local fields = {}
  for f in (line .. '\t'):gmatch('([^\t]*)\t') do fields[#fields + 1] = f end
  local r = { kind = fields[1] }
  for i = 2, #fields do
    local k, v = fields[i]:match('^([^=]+)=(.*)$')
    if k then r[k] = v end
  end
  recs[#recs + 1] = r
end

local function all(kind, pred)
  local out = {}
  for _, r in ipairs(recs) do
    if r.kind == kind and (not pred or pred(r)) then out[#out + 1] = r end
  end
  return out
end
local function one(kind, pred) return all(kind, pred)[1] end

local machine = one('machine') or {}
local config = one('config') or {}
local total = one('total')

-- The machine's peak: the best FMA row at a thread count.
local function peak(threads)
  local best, isa
  for _, p in ipairs(all('peak', function(r) return tonumber(r.threads) == threads end)) do
    local b = tonumber(p.best)
    if b and (not best or b > best) then best, isa = b, p.isa end
  end
  return best, isa
end

local function fmt_us(us)
  us = tonumber(us)
  if not us then return '-' end
  if us >= 1e6 then return string.format('%.2f s', us / 1e6) end
  if us >= 1e3 then return string.format('%.2f ms', us / 1e3) end
  return string.format('%.1f us', us)
end
local function fmt_bytes(b)
  b = tonumber(b)
  if not b then return '-' end
  if b >= 1e6 then return string.format('%.1f MB', b / 1e6) end
  if b >= 1e3 then return string.format('%.1f kB', b / 1e3) end
  return string.format('%d B', b)
end
local function gflops(macs, us)
  macs, us = tonumber(macs), tonumber(us)
  if not (macs and us) or macs == 0 or us == 0 then return nil end
  return 2 * macs / (us * 1e3)
end
local function fmt_num(x, f) return x and string.format(f or '%.1f', x) or '-' end
local function ratio(a, b)
  a, b = tonumber(a), tonumber(b)
  if not (a and b) or b == 0 then return '-' end
  return string.format('%.2f', a / b)
end

local IMPL_NAMES = { cnnc = 'cnnc', onednn = 'oneDNN', ort = 'ONNX Runtime', pytorch = 'PyTorch' }
local function impl_label(t)
  if t.impl == 'onednn' then
    return t.variant == 'best' and 'oneDNN' or ('oneDNN ' .. t.variant .. ' only')
  end
  if t.impl == 'pytorch' then return t.variant == 'eager' and 'PyTorch eager' or 'PyTorch mkldnn' end
  if t.impl == 'ort' then return 'ONNX Runtime' end
  return 'cnnc ' .. t.variant
end

local function time_of(net, impl, variant, threads)
  return one('time', function(r)
    return r.net == net and r.impl == impl and r.variant == variant and tonumber(r.threads) == threads
  end)
end

-- Markdown table: a header row and rows of cells.
local function md_table(head, rows, left_cols)
  local out = { '| ' .. table.concat(head, ' | ') .. ' |' }
  local sep = {}
  for i = 1, #head do sep[i] = i <= (left_cols or 1) and '---' or '---:' end
  out[#out + 1] = '| ' .. table.concat(sep, ' | ') .. ' |'
  for _, r in ipairs(rows) do out[#out + 1] = '| ' .. table.concat(r, ' | ') .. ' |' end
  return table.concat(out, '\n')
end

-- The same table in aligned plain text, for the console.
local function text_table(head, rows)
  local w = {}
  for i, h in ipairs(head) do w[i] = #h end
  for _, r in ipairs(rows) do for i, c in ipairs(r) do w[i] = math.max(w[i] or 0, #c) end end
  local function line(cells)
    local parts = {}
    for i, c in ipairs(cells) do
      parts[i] = i <= 2 and (c .. string.rep(' ', w[i] - #c)) or (string.rep(' ', w[i] - #c) .. c)
    end
    return table.concat(parts, '  ')
  end
  local out = { line(head) }
  for _, r in ipairs(rows) do out[#out + 1] = line(r) end
  return table.concat(out, '\n')
end

local nets = all('net')
local md = {}
local function add(s) md[#md + 1] = s end

add('# cnnc benchmark results')
add('')
add(string.format('Written by `bench/run.sh` (`make bench`) on %s, cnnc %s, in %s s. What each figure means: '
  .. '`bench/README.md`. Float32, batch 1 (except the batch runs), one input, the same weights and input for every '
  .. 'implementation. The machine is shared and noisy: compare figures of the same run, and prefer '
  .. 'the minimums when medians are far above them.',
  machine.date or '?', machine.cnnc or '?', total and total.seconds or '?'))
add('')
add('## Machine')
add('')
add(md_table({ 'what', 'value' }, {
  { 'CPU', machine.cpu or '?' },
  { 'cores (online)', machine.cores or '?' },
  { 'ISA', machine.isa or '?' },
  { 'caches', string.format('L2 %s, L3 %s', machine.l2 or '?', machine.l3 or '?') },
  { 'load average at start', machine.load or '?' },
  { 'kernel', machine.kernel or '?' },
  { 'C compiler / flags for cnnc code', string.format('%s / `%s`', machine.cc or '?', machine.cflags or '?') },
  { 'cnnc targets requested', string.format('%s (R3: %s)%s', config.targets or '?', config.r3_targets or '?',
    config.target_option == '0' and '; `cnnc build` has no `--target` yet: generic only' or '') },
}, 2))
add('')
add('## Peak FP32 throughput (bench/peak.c)')
add('')
do
  local rows, seen = {}, {}
  for _, p in ipairs(all('peak')) do
    if not seen[p.isa] then
      seen[p.isa] = true
      local function cell(t)
        local r = one('peak', function(x) return x.isa == p.isa and tonumber(x.threads) == t end)
        return r and string.format('%s (median %s)', r.best, r.median) or '-'
      end
      local t2 = 0
      for _, x in ipairs(all('peak', function(x) return x.isa == p.isa end)) do t2 = math.max(t2, tonumber(x.threads)) end
      rows[#rows + 1] = { p.isa, p.desc or '', cell(1), t2 > 1 and cell(t2) or '-' }
    end
  end
  add(md_table({ 'ISA', 'kernel', '1 thread GFLOP/s best', 'all cores GFLOP/s best' }, rows, 2))
  local p1, i1 = peak(1)
  local p2 = peak(2)
  add('')
  add(string.format('"%% of peak" below divides a run\'s best GFLOP/s by the best row here at the same '
    .. 'thread count (%s: %s GFLOP/s on 1 thread, %s on 2).', i1 or '?', fmt_num(p1), fmt_num(p2)))
  if p1 and i1 == 'avx512' then
    add(string.format('With two 512-bit FMA units per core (64 flops a cycle) that is %.2f GHz.', p1 / 64))
  end
end
add('')

-- Overview: one row per network and implementation/target.
local overview_head = { 'net', 'implementation', 'threads', 'median', 'min', 'GFLOP/s', 'best GFLOP/s', '% peak',
  'cnnc/oneDNN', 'cnnc/ORT', 'cnnc/PyTorch', 'cnnc/PyT-mkldnn' }
local overview = {}

add('## Results per network')
add('')
add('Ratios are cnnc\'s time over the other\'s (median; minimum in brackets), both on 1 thread: '
  .. 'above 1 means cnnc is slower. GFLOP/s counts 2 flops per multiply-add of the '
  .. 'convolution and Dense layers (`cnnc summary`).')
for _, n in ipairs(nets) do
  local net, macs = n.net, tonumber(n.macs)
  add('')
  add(string.format('### %s: %.2f M multiply-adds (%.3f GFLOP) per prediction', net:upper(), (macs or 0) / 1e6,
    2 * (macs or 0) / 1e9))
  add('')
  local rows = {}
  local od1 = time_of(net, 'onednn', 'best', 1)
  local pe1 = time_of(net, 'pytorch', 'eager', 1)
  local pm1 = time_of(net, 'pytorch', 'mkldnn', 1)
  local ort1 = time_of(net, 'ort', 'best', 1)
  local ORDER = { cnnc = 1, onednn = 2, ort = 3, pytorch = 4 }
  local VARIANTS = { generic = 1, sse4 = 2, avx2 = 3, avx512 = 4, native = 5, best = 1, sse41 = 2,
    avx512_core = 4, eager = 1, mkldnn = 2 }
  local entries = {}
  for _, t in ipairs(all('time', function(r) return r.net == net end)) do entries[#entries + 1] = t end
  for _, t in ipairs(all('skip', function(r) return r.net == net end)) do entries[#entries + 1] = t end
  for i, e in ipairs(entries) do e.seq = i end
  table.sort(entries, function(a, b)
    local ka = { ORDER[a.impl] or 9, VARIANTS[a.variant] or 9, tonumber(a.threads) or 1, a.seq }
    local kb = { ORDER[b.impl] or 9, VARIANTS[b.variant] or 9, tonumber(b.threads) or 1, b.seq }
    for i = 1, 4 do if ka[i] ~= kb[i] then return ka[i] < kb[i] end end
    return false
  end)
  for _, t in ipairs(entries) do
    if t.kind == 'skip' then
      rows[#rows + 1] = { (IMPL_NAMES[t.impl] or t.impl) .. ' ' .. (t.variant or ''), t.threads or '-',
        t.reason or 'skipped', '', '', '', '' }
    else
      local th = tonumber(t.threads)
      local g, gb = gflops(macs, t.median), gflops(macs, t.min)
      local pk = peak(th)
      local row = { impl_label(t), t.threads, fmt_us(t.median), fmt_us(t.min), fmt_num(g), fmt_num(gb),
        (gb and pk) and string.format('%.1f%%', 100 * gb / pk) or '-' }
      rows[#rows + 1] = row
      local ov = { net, impl_label(t), t.threads, row[3], row[4], row[5], row[6], row[7], '', '', '', '' }
      if t.impl == 'cnnc' and th == 1 then
        local function r2(o)
          if not o then return '-' end
          return string.format('%s (%s)', ratio(t.median, o.median), ratio(t.min, o.min))
        end
        ov[9], ov[10], ov[11], ov[12] = r2(od1), r2(ort1), r2(pe1), r2(pm1)
      end
      overview[#overview + 1] = ov
    end
  end
  add(md_table({ 'implementation', 'threads', 'median', 'min', 'GFLOP/s', 'best GFLOP/s', '% peak' }, rows))
  add('')
  add('(GFLOP/s from the median, best GFLOP/s and % peak from the minimum.)')

  local cnnc_rows, build_rows = {}, {}
  for _, t in ipairs(all('time', function(r) return r.net == net and r.impl == 'cnnc' and r.threads == '1' end)) do
    local function r2(o)
      if not o then return '-' end
      return string.format('%s (%s)', ratio(t.median, o.median), ratio(t.min, o.min))
    end
    local isa_map = { sse4 = 'sse41', avx2 = 'avx2', avx512 = 'avx512_core' }
    local same = isa_map[t.variant] and time_of(net, 'onednn', isa_map[t.variant], 1)
    cnnc_rows[#cnnc_rows + 1] = { 'cnnc ' .. t.variant, r2(od1), same and r2(same) or '-', r2(ort1), r2(pe1), r2(pm1) }
  end
  for _, b in ipairs(all('build', function(r) return r.net == net end)) do
    build_rows[#build_rows + 1] = { 'cnnc ' .. b.target, b.seconds .. ' s', (b.cc ~= '' and b.cc or '-') .. ' s',
      fmt_bytes(b.c_bytes), fmt_bytes(b.code_bytes), tonumber(b.blob_bytes or 0) > 0 and fmt_bytes(b.blob_bytes) or '-',
      fmt_bytes(b.arena), fmt_bytes(b.exe_bytes), (b.gen and b.gen ~= '') and (b.gen .. ' s') or '-',
      tonumber(b.peak_kb) and string.format('%.0f MB', tonumber(b.peak_kb) / 1024) or '-' }
  end
  if #cnnc_rows > 0 then
    add('')
    add(md_table({ 'target', 'cnnc/oneDNN', 'cnnc/oneDNN same ISA', 'cnnc/ONNX Runtime', 'cnnc/PyTorch eager',
      'cnnc/PyTorch mkldnn' },
      cnnc_rows))
  end
  local pairs_ = all('pair', function(r) return r.net == net end)
  if #pairs_ > 0 then
    local function pick(impl, th)
      for _, r in ipairs(pairs_) do if r.impl == impl and r.threads == tostring(th) then return r end end
    end
    local c1, c2, o1, o2 = pick('cnnc', 1), pick('cnnc', 2), pick('onednn', 1), pick('onednn', 2)
    local x1, x2 = pick('ort', 1), pick('ort', 2)
    local function r2(a, b)
      if not (a and b) then return '-' end
      return string.format('%s (%s)', ratio(a.median, b.median), ratio(a.min, b.min))
    end
    local prow = {}
    local present = {}
    for _, r in pairs({ o1, o2, x1, x2, c1, c2 }) do present[#present + 1] = r end
    local RANK = { onednn = 1, ort = 2, cnnc = 3 }
    table.sort(present, function(a, b2)
      if a.impl ~= b2.impl then return RANK[a.impl] < RANK[b2.impl] end
      return a.threads < b2.threads
    end)
    for _, r in ipairs(present) do
      local gb = gflops(macs, r.min)
      local pk = peak(tonumber(r.threads))
      prow[#prow + 1] = { r.impl == 'cnnc' and ('cnnc ' .. r.variant) or IMPL_NAMES[r.impl], r.threads, r.rounds,
        fmt_us(r.median), fmt_us(r.min), (gb and pk) and string.format('%.1f%%', 100 * gb / pk) or '-' }
    end
    add('')
    add(string.format('Paired rounds: oneDNN, ONNX Runtime and cnnc %s, 1 and 2 threads, run in turn %s times '
      .. '(median of the rounds\' medians, minimum of their minimums): **cnnc/oneDNN at 1 thread %s**, at 2 '
      .. 'threads %s; **cnnc/ONNX Runtime at 1 thread %s, at 2 threads %s**; 2-thread speedup: **cnnc %s**, '
      .. 'oneDNN %s, ONNX Runtime %s.', pairs_[1].variant, pairs_[1].rounds, r2(c1, o1), r2(c2, o2), r2(c1, x1),
      r2(c2, x2), r2(c1, c2), r2(o1, o2), r2(x1, x2)))
    add('')
    add(md_table({ 'implementation', 'threads', 'rounds', 'median', 'min', '% peak' }, prow))
  end
  local batches = all('batch', function(r) return r.net == net end)
  if #batches > 0 then
    local function pick(impl, th)
      for _, r in ipairs(batches) do if r.impl == impl and r.threads == tostring(th) then return r end end
    end
    local brow = {}
    for _, r in ipairs(batches) do
      brow[#brow + 1] = { r.impl == 'cnnc' and ('cnnc ' .. r.variant) or IMPL_NAMES[r.impl], r.threads, r.rounds,
        r.items_s, r.best }
    end
    local c2, x2, c1 = pick('cnnc', 2), pick('ort', 2), pick('cnnc', 1)
    add('')
    add(string.format('Batch of %s items (cnnc\'s executable shares the items between its team\'s threads; ONNX '
      .. 'Runtime runs the batch export), in turn %s rounds: **cnnc/ONNX Runtime items per second at 2 threads %s**; '
      .. 'cnnc\'s 2-thread speedup %s.', batches[1].items, batches[1].rounds,
      (c2 and x2) and ratio(c2.items_s, x2.items_s) or '-', (c1 and c2) and ratio(c2.items_s, c1.items_s) or '-'))
    add('')
    add(md_table({ 'implementation', 'threads', 'rounds', 'items/s (median)', 'items/s (best)' }, brow))
  end
  local ws = all('workspan', function(r) return r.net == net end)
  if #ws > 0 then
    local head, row = { 'threads' }, { 'work-span bound' }
    local srow = { 'span' }
    for _, w in ipairs(ws) do
      head[#head + 1] = w.threads
      row[#row + 1] = string.format('%.2fx', tonumber(w.bound) or 0)
      srow[#srow + 1] = fmt_us(w.span)
    end
    add('')
    add(string.format('Work-span bound of the speedup (`bench/workspan.lua`, cnnc %s): from each step\'s median '
      .. 'time on one thread (T1 = %s, a profile build) and the parts a --threads P build cuts each layer into, '
      .. 'T1 over the time P threads need if sharing cost nothing (steps not cut stay whole); %.1f%% of T1 '
      .. 'is in steps no build shares.', ws[1].variant, fmt_us(ws[1].t1), 100 * (tonumber(ws[#ws].unshared) or 0)))
    add('')
    add(md_table(head, { row, srow }))
  end
  if #build_rows > 0 then
    add('')
    add(md_table({ 'target', 'cnnc build (code + cc)', 'of which cc', 'NAME.c', 'without weight literals',
      'weights blob', 'arena (WORKSPACE_SIZE)', 'executable', 'code generation alone', 'its peak memory' }, build_rows))
  end
  local oi = one('onednn', function(r) return r.net == net end)
  if oi then
    add('')
    add('oneDNN convolution / inner-product implementations (1 thread): ' .. (oi.impls or '?') .. '.')
  end
  local checks = all('check', function(r) return r.net == net end)
  if #checks > 0 then
    add('')
    local lines = {}
    for _, c in ipairs(checks) do
      lines[#lines + 1] = string.format('%s: max abs error %s (tolerance %s, %s of max|ref| %s) %s', c.what, c.err,
        c.tol, c.rel or '?', c.maxref or '?', c.status)
    end
    add('Output checks: ' .. table.concat(lines, '; ') .. '.')
  end
end

add('')
add('### Overview')
add('')
add(md_table(overview_head, overview, 2))

do
  local o = one('onednn')
  if o then
    add('')
    add(string.format('oneDNN: %s; threads set per run (OpenMP: omp_set_num_threads and OMP_NUM_THREADS).',
      (o.info or '?'):gsub(', threads %d+', '')))
  end
end

add('')
add('## Per-layer timing (R2, R3)')
add('')
add('Single thread. oneDNN: its per-primitive times inside the network (the sum exceeds the whole-run '
  .. 'figure by the timer overhead). cnnc: each layer built alone as a one-layer model '
  .. '(`bench/layers.lua`) and timed by its executable\'s `--bench`; nothing is fused across layers in '
  .. 'these networks except activations, which stay with their layer. GFLOP/s and % of peak from the '
  .. 'minimum; cnnc\'s % of peak is against the peak of its own ISA (the FMA row of `bench/peak.c`). '
  .. 'Ratio: cnnc min / oneDNN min. A target\'s first columns are its default kernels (Winograd where '
  .. '`--winograd auto` picks it, so GFLOP/s counts the direct convolution\'s flops: above 100% of peak is '
  .. 'possible); "-direct" is the same layer with `--winograd off`, the direct kernel alone.')
local ISA_PEAK = { avx512 = 'avx512', avx2 = 'avx2', sse4 = 'sse', neon = nil }
local function isa_peak(variant)
  local isa = ISA_PEAK[variant:match('^[^-]+')]
  local p = isa and one('peak', function(r) return r.isa == isa and tonumber(r.threads) == 1 end)
  return p and tonumber(p.best)
end
for _, n in ipairs(nets) do
  local layers = all('layer', function(r) return r.net == n.net and r.impl == 'onednn' and r.threads == '1' end)
  local mine = all('layer', function(r) return r.net == n.net and r.impl == 'cnnc' and r.threads == '1' end)
  local variants, seen = {}, {}
  for _, l in ipairs(mine) do
    if not seen[l.variant] then seen[l.variant] = true; variants[#variants + 1] = l.variant end
  end
  -- rows in network order: oneDNN's primitives, then any cnnc layer oneDNN has no row for
  local order, by = {}, {}
  for _, l in ipairs(layers) do
    if not by[l.name] then by[l.name] = { op = l.op, macs = l.macs }; order[#order + 1] = l.name end
    by[l.name].onednn = l
  end
  for _, l in ipairs(mine) do
    if not by[l.name] then by[l.name] = { op = l.op, macs = l.macs }; order[#order + 1] = l.name end
    by[l.name][l.variant] = l
  end
  if #order > 0 then
    add('')
    add('**' .. n.net:upper() .. '**')
    add('')
    local head = { 'layer', 'op', 'oneDNN min', 'GFLOP/s', '% peak' }
    for _, v in ipairs(variants) do
      for _, h in ipairs({ 'cnnc ' .. v .. ' min', 'GFLOP/s', '% ' .. v .. ' peak', 'cnnc/oneDNN' }) do head[#head + 1] = h end
    end
    local rows = {}
    local p1 = peak(1)
    local sums = { onednn = 0 }
    for _, name in ipairs(order) do
      local e = by[name]
      local o = e.onednn
      local gb = o and gflops(o.macs, o.min)
      local row = { name, e.op, o and fmt_us(o.min) or '-', fmt_num(gb),
        (gb and p1) and string.format('%.1f%%', 100 * gb / p1) or '-' }
      if o then sums.onednn = sums.onednn + (tonumber(o.min) or 0) end
      for _, v in ipairs(variants) do
        local c = e[v]
        local cg = c and gflops(c.macs, c.min)
        local vp = isa_peak(v)
        row[#row + 1] = c and fmt_us(c.min) or '-'
        row[#row + 1] = fmt_num(cg)
        row[#row + 1] = (cg and vp) and string.format('%.1f%%', 100 * cg / vp) or '-'
        row[#row + 1] = (c and o) and ratio(c.min, o.min) or '-'
        if c then sums[v] = (sums[v] or 0) + (tonumber(c.min) or 0) end
      end
      rows[#rows + 1] = row
    end
    local total_row = { 'sum', '', fmt_us(sums.onednn), '', '' }
    for _, v in ipairs(variants) do
      for _, x in ipairs({ fmt_us(sums[v]), '', '', ratio(sums[v], sums.onednn) }) do total_row[#total_row + 1] = x end
    end
    rows[#rows + 1] = total_row
    add(md_table(head, rows, 2))
  end
end
add('')

-- Gradients: R2's backward over its forward, and a training epoch next to PyTorch's.
local grads, trains = all('grad'), all('train')
if #grads > 0 or #trains > 0 then
  add('## Gradients')
  add('')
  add('The two speed figures of issue 14 (`bench/README.md`, "Gradients"): each pair of figures comes from the '
    .. 'same rounds, the implementations run in turn.')
  add('')
  local function gpick(impl, pass)
    return one('grad', function(r) return r.impl == impl and r.pass == pass end)
  end
  local function verdict(x, target)
    x = tonumber(x)
    if not x then return '' end
    return x <= target and 'met' or 'missed'
  end
  local function rat(a, b)
    if not (a and b) then return '-', '-' end
    return ratio(a.median, b.median), ratio(a.min, b.min)
  end
  if #grads > 0 then
    local cf, cb = gpick('cnnc', 'forward'), gpick('cnnc', 'backward')
    local pf, pb = gpick('pytorch', 'forward'), gpick('pytorch', 'backward')
    local cm, cn = rat(cb, cf)
    local pm, pn = rat(pb, pf)
    add('### R2: input and weight gradients, batch 1, one thread')
    add('')
    add(string.format('cnnc %s: the `--backward` build\'s `--grad-output DY --bench` (the forward pass that keeps '
      .. 'what backward reads, then the gradient of the input and of all 16 weights) against the plain build\'s '
      .. '`--bench` (the deployment forward), in turn for %s rounds; PyTorch eager: a forward under `no_grad` and a '
      .. 'forward with autograd plus `torch.autograd.grad` for the input and every parameter, run by run in turn. '
      .. 'Median of the rounds\' medians, minimum of their minimums. **cnnc backward/forward %s (min %s)**: target '
      .. 'at most 2.5, **%s**; PyTorch\'s %s (min %s).', (cf or cb or {}).variant or '?', (cf or cb or {}).rounds or '?',
      cm, cn, verdict(cm, 2.5), pm, pn))
    add('')
    local rows = {}
    for _, e in ipairs({ { 'cnnc ' .. ((cf or {}).variant or ''), cf, cb, cm, cn },
        { 'PyTorch eager', pf, pb, pm, pn } }) do
      if e[2] or e[3] then
        rows[#rows + 1] = { e[1], fmt_us(e[2] and e[2].median), fmt_us(e[2] and e[2].min), fmt_us(e[3] and e[3].median),
          fmt_us(e[3] and e[3].min), e[4], e[5] }
      end
    end
    add(md_table({ 'implementation', 'forward median', 'forward min', 'backward median', 'backward min',
      'backward/forward (median)', '(min)' }, rows))
    -- the backward steps alone, estimated as the backward run less a forward of the same rounds
    local function alone(b, f, k)
      local x, y = b and tonumber(b[k]), f and tonumber(f[k])
      return (x and y and y > 0) and string.format('%.2f', (x - y) / y) or '-'
    end
    add('')
    add(string.format('The backward steps alone, (backward - forward) / forward: cnnc %s (min %s), PyTorch %s (min %s). '
      .. 'They do at least twice the forward\'s multiply-adds (each convolution\'s input gradient and its weight '
      .. 'gradient are convolutions of its size), so kernels as fast as the forward\'s give a backward/forward of '
      .. 'about 3.', alone(cb, cf, 'median'), alone(cb, cf, 'min'), alone(pb, pf, 'median'), alone(pb, pf, 'min')))
    if cb and pb then
      add('')
      add(string.format('cnnc\'s backward over PyTorch\'s: %s (min %s); cnnc\'s forward over PyTorch eager\'s: %s '
        .. '(min %s).', ratio(cb.median, pb.median), ratio(cb.min, pb.min), ratio(cf and cf.median, pf and pf.median),
        ratio(cf and cf.min, pf and pf.min)))
    end
    local gc = all('check', function(r) return r.net == 'grad' end)
    for _, c in ipairs(gc) do
      add('')
      add(string.format('Gradient check, %s: max abs error %s (tolerance %s, max|ref| %s, relative %s) %s.', c.what,
        c.err, c.tol, c.maxref, c.rel, c.status))
    end
    add('')
  end
  if #trains > 0 then
    local function tpick(impl, th)
      return one('train', function(r) return r.impl == impl and tonumber(r.threads) == th end)
    end
    local images = tonumber(trains[1].images) or 0
    add('### One training epoch of the Keras MNIST network on Fashion-MNIST')
    add('')
    add(string.format('%s images%s, batch 32, Adam (lr 0.001), categorical crossentropy, from the same seeded '
      .. 'initial weights: cnnc\'s `net:fit` (`model:compile{train = true, threads = N}`, target %s) and PyTorch eager '
      .. '(`torch.set_num_threads(N)`, OMP_WAIT_POLICY %s), at 1 and 2 threads, in turn for %s rounds; seconds per epoch (median of '
      .. 'the rounds, minimum), loss and accuracy the epoch\'s mean over its batches. Target: cnnc at most 0.5x '
      .. 'PyTorch\'s time.', images, images == 60000 and ' (the full epoch)'
      or ' (**a subset, not the full epoch**: BENCH_TRAIN_IMAGES)', (tpick('cnnc', 1) or {}).variant or '?',
      (tpick('pytorch', 1) or {}).omp_wait or '-', trains[1].rounds or '?'))
    add('')
    local rows = {}
    for _, th in ipairs({ 1, 2 }) do
      local c, p = tpick('cnnc', th), tpick('pytorch', th)
      if c or p then
        local rm, rn = rat(c, p)
        local function s(x) return x and string.format('%.2f s', tonumber(x)) or '-' end
        local function la(r) return r and string.format('%s / %.2f%%', r.loss, 100 * (tonumber(r.accuracy) or 0)) or '-' end
        rows[#rows + 1] = { tostring(th), s(c and c.median), s(c and c.min), s(p and p.median), s(p and p.min),
          string.format('**%s** (%s)', rm, rn), verdict(rm, 0.5), la(c), la(p) }
      end
    end
    add(md_table({ 'threads', 'cnnc median', 'cnnc min', 'PyTorch median', 'PyTorch min', 'cnnc/PyTorch (min)',
      'target 0.5', 'cnnc loss / accuracy', 'PyTorch loss / accuracy' }, rows))
    add('')
  end
  for _, sk in ipairs(all('skip', function(r) return r.net == 'grad' or r.net == 'train' end)) do
    add(string.format('%s %s (%s): %s.', IMPL_NAMES[sk.impl] or sk.impl, sk.variant or '', sk.net, sk.reason or 'skipped'))
    add('')
  end
end

local f = assert(io.open(md_path, 'w'))
f:write(table.concat(md, '\n'))
f:close()

print(text_table(overview_head, overview))
