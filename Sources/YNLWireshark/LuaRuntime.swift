// The fixed part of the Wireshark plugin (flowtrace.lua): registers the Protos and fields from
// the generated SPEC tables and walks the attributes. It names spec items only through NEED (see LuaEmitter),
// so it holds no attribute number and no family name of its own.
//
// Written against Wireshark 4.0's Lua 5.2 API; the facts it relies on (offsets, byte order,
// the Info column fence, ACKs) are tested by Tests/LibFlowTableTests/WiresharkPluginTests.swift
// and (kernel families) Tests/YNLTests/WiresharkFamilyTests.swift, which run it in tshark.

enum LuaRuntime {
    static let source = #"""
        -- One copy only. Wireshark loads the system plugin folder, then the personal one, then -X
        -- lua_script files, into one Lua state (each file with globals of its own; package.loaded is
        -- shared), and a second copy would register every protocol again. A system copy (make
        -- install) gives way to a personal one (flowtrace wireshark install), which may hold more
        -- families; any later copy stays out, saying so.
        local THIS_FILE = (debug.getinfo(1, "S").source or ""):gsub("^@", "")
        local PERSONAL_COPY = Dir.personal_plugins_path() .. "/flowtrace.lua"
        local LOADED_FROM = package.loaded["flowtrace.lua"]
        if LOADED_FROM ~= nil then
          report_failure(string.format("flowtrace.lua: %s is not loaded: the plugin is already loaded from %s. " ..
                                       "Keep one copy: `flowtrace wireshark install` writes the personal one, " ..
                                       "`make install` the system one.", THIS_FILE, LOADED_FROM))
          return
        end
        local GLOBAL_DIR = Dir.global_plugins_path()
        if THIS_FILE ~= PERSONAL_COPY and THIS_FILE:sub(1, #GLOBAL_DIR) == GLOBAL_DIR and file_exists(PERSONAL_COPY) then
          return
        end
        package.loaded["flowtrace.lua"] = THIS_FILE

        local band, bnot = bit32.band, bit32.bnot

        local NLA_HDRLEN = 4
        local NLA_TYPE_MASK = 0x3fff           -- nla_type without the two flag bits
        local NLA_F_NESTED = 0x8000            -- informative only: 2015 kernels never set it, so nests are
        local NLA_F_NET_BYTEORDER = 0x4000     -- known from the spec, not from this bit
        local NLMSG_HDRLEN = 16
        local NLMSG_ERROR = 2
        local NLMSG_DONE = 3
        local NLM_F_REQUEST = 0x0001
        local NLM_F_CAPPED = 0x0100
        local NLM_F_ACK_TLVS = 0x0200
        local NLMSGERR_ATTR_MSG = 1
        local GENL_ID_CTRL = 0x10
        -- The specs' sets do not nest recursively (the deepest chain, ENCAP > ATTR > FLOWS > FLOW >
        -- ACTIONS > ACTION > SIGNATURE > ACTION_ARG, is 9 levels), so this only stops a future recursive
        -- spec or hostile input from running away; LibFlowTable's decoder uses the same limit.
        local MAX_DEPTH = 16

        local ERRNO_VALUES = { [0] = "OK" }     -- STATUS, ERRNO, ERROR: 0 is success
        local NEG_ERRNO = { [0] = "ACK" }       -- nlmsgerr.error: negative
        for k, v in pairs(ERRNO) do
          ERRNO_VALUES[k] = v
          NEG_ERRNO[-k] = v
        end

        local function errno_text(v)
          if v == 0 then return "0 (OK)" end
          return string.format("%d (%s)", v, ERRNO[v] or "errno?")
        end

        -- Byte-order aware reads. `le` is the packet's order, cleared for NLA_F_NET_BYTEORDER.
        local function u16(r, le)
          if le then return r:le_uint() end
          return r:uint()
        end

        local function read_int(r, width, signed, le)
          if width == 8 then
            if signed then
              if le then return r:le_int64() end
              return r:int64()
            end
            if le then return r:le_uint64() end
            return r:uint64()
          end
          if signed then
            if le then return r:le_int() end
            return r:int()
          end
          if le then return r:le_uint() end
          return r:uint()
        end

        -- TvbRange:string() keeps the NUL and anything after it.
        local function cstring(r)
          if r:len() == 0 then return "" end
          local s = r:string()
          local nul = s:find("\0", 1, true)
          if nul then s = s:sub(1, nul - 1) end
          return s
        end

        local function lower_name(key)
          return (key:gsub("-", "_"):lower())
        end

        local function plural(n, word)
          if n == 1 then return "1 " .. word end
          return tostring(n) .. " " .. word .. "s"
        end

        ------------------------------------------------------------------------------------------------
        -- Families, sets, attributes and their fields, from SPEC.

        local FAMILIES = {}   -- by family name
        local ORDER = {}

        local INT_FIELD = {
          uint = { [1] = ProtoField.uint8, [2] = ProtoField.uint16, [4] = ProtoField.uint32, [8] = ProtoField.uint64 },
          int = { [1] = ProtoField.int8, [2] = ProtoField.int16, [4] = ProtoField.int32, [8] = ProtoField.int64 },
        }
        local KIND = {
          u8 = { "uint", 1 }, u16 = { "uint", 2 }, u32 = { "uint", 4 }, u64 = { "uint", 8 },
          s8 = { "int", 1 }, s16 = { "int", 2 }, s32 = { "int", 4 }, s64 = { "int", 8 },
          uint = { "uint", 0 }, sint = { "int", 0 },   -- 4 or 8 bytes on the wire, shown as 64-bit
        }

        local genl_family = DissectorTable.get("genl.family")

        -- A family Wireshark already dissects (its own dissector in genl.family, or a protocol of that
        -- name) is left to Wireshark.
        local function taken(name)
          local ok, d = pcall(function() return genl_family:get_dissector(name) end)
          return ok and d ~= nil
        end

        for _, spec in ipairs(SPEC) do
          local fam = { spec = spec, name = spec.name, short = spec.short, sets = {}, enums = {}, fields = {} }
          local ok, proto = false, nil
          if not taken(spec.name) then
            ok, proto = pcall(Proto, spec.name, spec.title .. " (generic netlink " .. spec.name .. ")")
          end
          if ok then
          fam.proto = proto
          for key, def in pairs(spec.enums) do
            local e = { flags = def.flags, entries = def.entries, names = {}, by_key = {}, keys = {} }
            for _, entry in ipairs(def.entries) do
              e.names[entry.value] = entry.name
              e.by_key[entry.key] = entry.value
              e.keys[entry.value] = entry.key
            end
            fam.enums[key] = e
          end
          for key, sdef in pairs(spec.sets) do
            local set = { key = key, fam = fam, doc = sdef.doc, list = {}, by_type = {}, by_key = {} }
            for _, adef in ipairs(sdef.attributes) do
              local a = {}
              for k, v in pairs(adef) do a[k] = v end
              a.fam, a.set, a.ref = fam, set, key .. "." .. adef.key
              set.list[#set.list + 1] = a
              set.by_type[a.value] = a
              set.by_key[a.key] = a
            end
            -- A list wrapper holds one repeated attribute: labels count its entries by that name.
            if #set.list == 1 and set.list[1].multi then set.element = set.list[1].key end
            fam.sets[key] = set
          end
          FAMILIES[spec.name] = fam
          ORDER[#ORDER + 1] = fam
          end
        end

        local function add_field(fam, field)
          fam.fields[#fam.fields + 1] = field
          return field
        end

        -- An integer's field (and one bit field per flag, up to 32 bits: Wireshark 4.0 cannot add a
        -- 64-bit value to a boolean), for attributes and struct members alike.
        local function int_field(fam, a, vs, display)
          local fw = a.width == 0 and 8 or a.width
          if fw == 8 then vs = nil end
          a.names = vs
          a.field = INT_FIELD[a.kind][fw](a.abbr, a.name, display, vs, nil, a.doc)
          a.flag_fields = {}
          if a.enum_def and (a.enum_as_flags or a.enum_def.flags) and a.width ~= 0 and a.width < 8 then
            for _, entry in ipairs(a.enum_def.entries) do
              a.flag_fields[#a.flag_fields + 1] = add_field(fam, ProtoField.bool(a.abbr .. "." .. lower_name(entry.key),
                                                                                 entry.name, 8 * fw, nil, entry.value))
            end
          end
        end

        -- Structs: member fields, sizes, and the structs members hold.
        local function add_structs(fam)
          fam.structs = {}
          for key, sdef in pairs(fam.spec.structs) do
            fam.structs[key] = { key = key, size = sdef.size, members = sdef.members }
          end
          for _, st in pairs(fam.structs) do
            for _, m in ipairs(st.members) do
              local kind = KIND[m.type]
              if kind then
                m.kind, m.width, m.size = kind[1], kind[2], kind[2]
                local vs, display = nil, base.DEC
                if m.enum then
                  m.enum_def = fam.enums[m.enum]
                  if m.enum_as_flags or m.enum_def.flags then display = base.HEX else vs = m.enum_def.names end
                end
                int_field(fam, m, vs, display)
              elseif m.type == "binary" then
                m.kind, m.size = "bytes", m.len
                m.field = ProtoField.bytes(m.abbr, m.name)
              elseif m.type == "struct" then
                m.kind, m.struct_def = "struct", fam.structs[m.struct]
                m.size = m.struct_def.size
                m.field = ProtoField.none(m.abbr, m.name)
              else
                m.kind, m.size = "pad", m.len
              end
              if m.field then add_field(fam, m.field) end
            end
          end
        end

        local ALIAS_FIELDS = {}

        for _, fam in ipairs(ORDER) do
          local p = fam.name
          fam.top = fam.sets[fam.spec.top]
          fam.f = {
            cmd = add_field(fam, ProtoField.uint8(p .. ".cmd", "Command", base.DEC, fam.spec.commands)),
            version = add_field(fam, ProtoField.uint8(p .. ".version", "Family version", base.DEC)),
            reserved = add_field(fam, ProtoField.uint16(p .. ".reserved", "Reserved", base.HEX)),
            attr_len = add_field(fam, ProtoField.uint16(p .. ".attr.len", "Len", base.DEC)),
            attr_type = add_field(fam, ProtoField.uint16(p .. ".attr.type", "Type", base.DEC, nil, NLA_TYPE_MASK)),
            attr_nested = add_field(fam, ProtoField.bool(p .. ".attr.nested", "NLA_F_NESTED", 16, nil, NLA_F_NESTED)),
            attr_net_byteorder = add_field(fam, ProtoField.bool(p .. ".attr.net_byteorder", "NLA_F_NET_BYTEORDER", 16, nil,
                                                                NLA_F_NET_BYTEORDER)),
            attr_data = add_field(fam, ProtoField.bytes(p .. ".attr.data", "Data")),
            attr_unknown = add_field(fam, ProtoField.bytes(p .. ".attr.unknown", "Unknown attribute")),
            fixed_header = add_field(fam, ProtoField.none(p .. ".fixed_header", "Fixed header")),
          }
          add_structs(fam)
          fam.ex = {
            malformed = ProtoExpert.new(p .. ".malformed", "Malformed attribute", expert.group.MALFORMED, expert.severity.ERROR),
            trailing = ProtoExpert.new(p .. ".trailing", "Trailing bytes", expert.group.MALFORMED, expert.severity.WARN),
            unknown_attr = ProtoExpert.new(p .. ".unknown_attr", "Attribute not in the spec", expert.group.UNDECODED,
                                           expert.severity.WARN),
            failure = ProtoExpert.new(p .. ".failure", "Dissector failure", expert.group.MALFORMED, expert.severity.ERROR),
          }
          for _, set in pairs(fam.sets) do
            for _, a in ipairs(set.list) do
              local kind = KIND[a.type]
              if kind then
                a.kind, a.width = kind[1], kind[2]
              elseif a.type == "bitfield32" then
                a.kind, a.width = "uint", 4   -- the value; its selector follows
                a.bitfield = true
              elseif a.type == "binary" and a.max_len and a.max_len <= 8 then
                a.kind = "hexint"         -- a short native-order integer (a field reference's VALUE/MASK)
              elseif a.type == "binary" then
                a.kind = "bytes"
              else
                a.kind = a.type           -- string, flag, pad, nest
              end
              if a.struct then a.struct_def = fam.structs[a.struct] end
              if a.sub_message then a.formats = fam.spec.sub_messages[a.sub_message] end
              if a.nest then
                local owner = FAMILIES[a.nest_family or fam.name]
                a.nest_set = owner.sets[a.nest]
                if a.alt_nest then a.alt_set = fam.sets[a.alt_nest] end
              end
              local vs, display = nil, base.DEC
              if a.enum then
                local e = fam.enums[a.enum]
                a.enum_def = e
                if a.enum_as_flags or e.flags then display = base.HEX else vs = e.names end
              elseif a.values == "errno" then
                vs = ERRNO_VALUES
              elseif a.values == "commands" then
                vs = FAMILIES[a.values_family].spec.commands
              end
              if a.bitfield then display = base.HEX end
              if a.kind == "uint" or a.kind == "int" then
                int_field(fam, a, vs, display)
              elseif a.kind == "hexint" then
                a.field = ProtoField.uint64(a.abbr, a.name, base.HEX, nil, nil, a.doc)
              elseif a.kind == "string" then
                a.field = ProtoField.string(a.abbr, a.name, nil, a.doc)
              elseif a.kind == "bytes" then
                a.field = ProtoField.bytes(a.abbr, a.name, nil, a.doc)
              else
                a.field = ProtoField.none(a.abbr, a.name, a.doc)
              end
              add_field(fam, a.field)
              if a.alias then
                local af = ALIAS_FIELDS[a.alias.abbr]
                if not af then
                  local info = ALIASES[a.alias.abbr]
                  af = add_field(fam, INT_FIELD[a.kind][a.width](a.alias.abbr, info.label, base.DEC, nil, nil, info.doc))
                  ALIAS_FIELDS[a.alias.abbr] = af
                end
                a.alias_field = af
              end
            end
          end
        end

        for _, fam in ipairs(ORDER) do
          fam.proto.fields = fam.fields
          fam.proto.experts = { fam.ex.malformed, fam.ex.trailing, fam.ex.unknown_attr, fam.ex.failure }
        end

        -- The spec items named below, resolved now so that a missing one fails when the plugin loads.
        local N = {}
        for name, need in pairs(NEED) do
          local v
          if need.attr then
            local fam = FAMILIES[need.attr[1]]
            local set = fam and fam.sets[need.attr[2]]
            v = set and set.by_key[need.attr[3]]
          elseif need.command then
            local fam = FAMILIES[need.command[1]]
            v = fam and fam.spec.command_values[need.command[2]]
          elseif need.entry then
            local fam = FAMILIES[need.entry[1]]
            local e = fam and fam.enums[need.entry[2]]
            v = e and e.by_key[need.entry[3]]
          end
          if v == nil then error("flowtrace.lua: the generated spec data lacks " .. name) end
          N[name] = v
        end
        setmetatable(N, { __index = function(_, k) error("flowtrace.lua: no NEED." .. tostring(k), 2) end })

        ------------------------------------------------------------------------------------------------
        -- The attribute walker.

        local function new_ctx(tvb, le, alt, problems)
          -- facts: every decoded value by "<set>.<attr>", for the Info column; inner: the contexts of
          -- nests that hold another family's set (hairpin ENCAP's ATTR); problems: shared by a message's
          -- contexts, marks its Info when an attribute was malformed.
          return { tvb = tvb, le = le, alt = alt, facts = {}, inner = {}, problems = problems or {} }
        end

        local function record(ctx, a, v)
          local list = ctx.facts[a.ref]
          if not list then
            list = {}
            ctx.facts[a.ref] = list
          end
          list[#list + 1] = v
        end

        local function fact(ctx, a)
          local list = ctx.facts[a.ref]
          return list and list[1]
        end

        local function all_facts(ctx, a)
          return ctx.facts[a.ref] or {}
        end

        -- First occurrence of each attribute type in [off, stop), without adding anything to the tree;
        -- stops at the first bad header (the walk reports it).
        local function scan(ctx, off, stop)
          local tvb, found = ctx.tvb, {}
          while stop - off >= NLA_HDRLEN do
            local alen = u16(tvb(off, 2), ctx.le)
            local raw = u16(tvb(off + 2, 2), ctx.le)
            if alen < NLA_HDRLEN or alen > stop - off then break end
            local t = band(raw, NLA_TYPE_MASK)
            if found[t] == nil then
              found[t] = { off = off + NLA_HDRLEN, len = alen - NLA_HDRLEN,
                           le = ctx.le and band(raw, NLA_F_NET_BYTEORDER) == 0 }
            end
            off = off + band(alen + 3, bnot(3))
          end
          return found
        end

        local function scan_u32(ctx, found, a)
          local p = found[a.value]
          if p and p.len == 4 then return read_int(ctx.tvb(p.off, 4), 4, false, p.le) end
          return nil
        end

        -- Hooks run before a set's nest is walked (keyed by set).
        local ENTER = {}

        local function add_header(ctx, item, fam, off, alen, raw, label)
          local tvb = ctx.tvb
          item:add(fam.f.attr_len, tvb(off, 2), alen)
          local t = item:add(fam.f.attr_type, tvb(off + 2, 2), raw)
          if label then t:append_text(" (" .. label .. ")") end
          if band(raw, NLA_F_NESTED) ~= 0 then item:add(fam.f.attr_nested, tvb(off + 2, 2), raw) end
          if band(raw, NLA_F_NET_BYTEORDER) ~= 0 then item:add(fam.f.attr_net_byteorder, tvb(off + 2, 2), raw) end
        end

        local function bad_value(ctx, tree, a, off, alen, raw, why)
          local item = tree:add(a.fam.f.attr_data, ctx.tvb(off, alen))
          item:set_text(a.name .. ": " .. why)
          add_header(ctx, item, a.fam, off, alen, raw, a.name)
          item:add_proto_expert_info(a.fam.ex.malformed, a.name .. ": " .. why)
          ctx.problems.malformed = true
        end

        local function flags_text(a, v)
          local names = {}
          local wide = type(v) ~= "number"   -- a 64-bit value: bit32 reads only 32 bits
          if wide then v = tonumber(tostring(v)) end
          for _, entry in ipairs(a.enum_def.entries) do
            local set
            if wide then set = math.floor(v / entry.value) % 2 == 1 else set = band(v, entry.value) ~= 0 end
            if set then names[#names + 1] = entry.name end
          end
          if #names == 0 then return "0" end
          return table.concat(names, "|")
        end

        -- "table 2, uid 10, priority 5": the scalars of a nest, for its tree label.
        local function summarize(set, vals)
          local parts = {}
          for _, a in ipairs(set.list) do
            local v = vals[a.key]
            if v and v.shown then
              parts[#parts + 1] = a.key .. " " .. v.shown
              if #parts == 6 then break end
            end
          end
          return table.concat(parts, ", ")
        end

        -- An integer as the Info column and labels show it: flags by name, enum entries by name.
        local function int_text(a, v)
          if a.enum_def and (a.enum_as_flags or a.enum_def.flags) then return flags_text(a, v) end
          if a.names and a.names[v] then return a.names[v] end
          return tostring(v)
        end

        -- The members of struct `st` at `off` (its size is there), under `tree`; integers in the order
        -- `le` says unless the member is big-endian. Returns "ifindex 7, kind ALPHA" for the label.
        local function decode_struct(ctx, tree, off, st, le)
          local tvb, parts = ctx.tvb, {}
          for _, m in ipairs(st.members) do
            if m.kind == "uint" or m.kind == "int" then
              local v = read_int(tvb(off, m.width), m.width, m.kind == "int", le and not m.be)
              local item = tree:add(m.field, tvb(off, m.width), v)
              for _, ff in ipairs(m.flag_fields) do item:add(ff, tvb(off, m.width), v) end
              if #parts < 6 then parts[#parts + 1] = m.key .. " " .. int_text(m, v) end
            elseif m.kind == "bytes" then
              tree:add(m.field, tvb(off, m.size))
            elseif m.kind == "struct" then
              local item = tree:add(m.field, tvb(off, m.size))
              local text = decode_struct(ctx, item, off, m.struct_def, le)
              if text ~= "" then item:append_text(": " .. text) end
            end
            off = off + m.size
          end
          return table.concat(parts, ", ")
        end

        local walk

        local function decode_attr(ctx, tree, off, alen, raw, a, index, vals, pending, depth, outer)
          local tvb, fam = ctx.tvb, a.fam
          local plen = alen - NLA_HDRLEN
          local whole, payload = tvb(off, alen), tvb(off + NLA_HDRLEN, plen)
          local le = ctx.le and band(raw, NLA_F_NET_BYTEORDER) == 0 and not a.be
          local kind = a.kind
          local item, v, shown
          if kind == "uint" or kind == "int" then
            local width = a.width
            if width == 0 and (plen == 4 or plen == 8) then width = plen end
            local want = a.bitfield and 8 or width
            if plen ~= want then
              return bad_value(ctx, tree, a, off, alen, raw,
                               string.format("a %s needs %s bytes, this one has %d", a.type,
                                             width == 0 and "4 or 8" or tostring(want), plen))
            end
            v = read_int(payload(0, width), width, kind == "int", le)
            if a.width == 0 and width == 4 then
              if kind == "int" then v = Int64(v) else v = UInt64(v) end
            end
            item = tree:add(a.field, whole, v)
            if a.bitfield then
              item:append_text(string.format(" (selector 0x%08x)", read_int(payload(4, 4), 4, false, le)))
            end
            for _, ff in ipairs(a.flag_fields) do item:add(ff, payload, v) end
            shown = int_text(a, v)
            add_header(ctx, item, fam, off, alen, raw, a.name)
          elseif kind == "hexint" then
            if plen > a.max_len then
              return bad_value(ctx, tree, a, off, alen, raw,
                               string.format("%d bytes, more than its max-len %d", plen, a.max_len))
            end
            if plen == 0 then
              v, shown = UInt64(0), "(empty)"
              item = tree:add(a.field, whole, v)
              item:set_text(a.name .. ": (empty)")
            else
              if le then v = payload:le_uint64() else v = payload:uint64() end
              shown = "0x" .. v:tohex(2 * plen)
              item = tree:add(a.field, whole, v)
              item:set_text(string.format("%s: %s (%d bits, %s)", a.name, shown, 8 * plen,
                                          le and "little-endian" or "big-endian"))
            end
            add_header(ctx, item, fam, off, alen, raw, a.name)
          elseif kind == "string" then
            v = cstring(payload)
            shown = '"' .. v .. '"'
            item = tree:add(a.field, whole, v)
            add_header(ctx, item, fam, off, alen, raw, a.name)
          elseif kind == "flag" then
            if plen ~= 0 then
              return bad_value(ctx, tree, a, off, alen, raw, string.format("a flag has no payload, this one has %d bytes", plen))
            end
            v, shown = true, "yes"
            item = tree:add(a.field, whole)
            add_header(ctx, item, fam, off, alen, raw, a.name)
          elseif kind == "nest" then
            item = tree:add(a.field, whole)
            local nset, nctx = a.nest_set, ctx
            if a.alt_set then
              -- Two layouts under one number: the dissector decided from command and direction.
              if ctx.alt then nset = a.alt_set end
              item:append_text(" (" .. nset.key .. " layout)")
            end
            if a.multi then item:append_text(" [" .. index .. "]") end
            if a.nest_family then
              nctx = new_ctx(tvb, ctx.le, ctx.inner_alt, ctx.problems)
              ctx.inner[#ctx.inner + 1] = nctx
            end
            add_header(ctx, item, fam, off, alen, raw, a.name)
            local enter = ENTER[nset]
            if enter then enter(ctx, off + NLA_HDRLEN, off + alen) end
            local cvals, count = walk(nctx, item, off + NLA_HDRLEN, off + alen, nset, depth + 1, vals)
            local summary
            if nset.element then summary = plural(count, nset.element) else summary = summarize(nset, cvals) end
            if summary ~= "" then item:append_text(": " .. summary) end
            v = count
          elseif kind == "indexed-array" or kind == "nest-type-value" then
            -- Items numbered by their attribute type: nests of the set (or, nest-type-value, levels of
            -- numbered nests above it), or scalars shown by value.
            item = tree:add(a.field, whole)
            add_header(ctx, item, fam, off, alen, raw, a.name)
            local levels = kind == "nest-type-value" and a.levels or 0
            local function items(t, start, stop, level, d)
              local n, o = 0, start
              while stop - o >= NLA_HDRLEN do
                local ilen = u16(tvb(o, 2), ctx.le)
                local it = band(u16(tvb(o + 2, 2), ctx.le), NLA_TYPE_MASK)
                if ilen < NLA_HDRLEN or ilen > stop - o then
                  t:add_tvb_expert_info(fam.ex.malformed, tvb(o, stop - o), a.name .. ": item length " .. ilen)
                  ctx.problems.malformed = true
                  break
                end
                n = n + 1
                local sub = t:add(fam.f.attr_data, tvb(o, ilen))
                if level < levels then
                  sub:set_text(string.format("%s [%d]", a.name, it))
                  items(sub, o + NLA_HDRLEN, o + ilen, level + 1, d + 1)
                elseif a.nest_set then
                  sub:set_text(string.format("%s [%d]", a.name, it))
                  walk(ctx, sub, o + NLA_HDRLEN, o + ilen, a.nest_set, d + 1)
                elseif KIND[a.sub] and ilen - NLA_HDRLEN == KIND[a.sub][2] then
                  local k = KIND[a.sub]
                  sub:set_text(string.format("%s [%d]: %s", a.name, it,
                                             tostring(read_int(tvb(o + NLA_HDRLEN, k[2]), k[2], k[1] == "int", le))))
                else
                  sub:set_text(string.format("%s [%d]: %d bytes", a.name, it, ilen - NLA_HDRLEN))
                end
                o = o + band(ilen + 3, bnot(3))
              end
              return n
            end
            v = items(item, off + NLA_HDRLEN, off + alen, 0, depth)
            item:append_text(": " .. plural(v, "item"))
          elseif kind == "struct" then
            -- Kernels grow structs at the end: a longer payload is a newer struct, its tail unknown here.
            local st = a.struct_def
            if plen < st.size then
              return bad_value(ctx, tree, a, off, alen, raw,
                               string.format("struct %s needs %d bytes, this one has %d", st.key, st.size, plen))
            end
            item = tree:add(a.field, whole)
            add_header(ctx, item, fam, off, alen, raw, a.name)
            local text = decode_struct(ctx, item, off + NLA_HDRLEN, st, le)
            if plen > st.size then
              item:add(fam.f.attr_data, tvb(off + NLA_HDRLEN + st.size, plen - st.size))
                  :set_text(string.format("%d byte(s) past struct %s (a newer kernel's)", plen - st.size, st.key))
            end
            if text ~= "" then item:append_text(": " .. text) end
            v = plen
          elseif kind == "sub-message" then
            -- The format is named by the selector, decoded before it in this nest or the enclosing one.
            local sel = vals[a.selector] or (outer and outer[a.selector])
            local format = sel and a.formats[sel.key]
            if not format then
              local why
              if sel then
                why = string.format("sub-message %s has no format for %s '%s'", a.sub_message, a.selector, sel.key)
              else
                why = string.format("sub-message %s needs its selector %s before it", a.sub_message, a.selector)
              end
              return bad_value(ctx, tree, a, off, alen, raw, why)
            end
            item = tree:add(a.field, whole)
            item:append_text(" (" .. sel.key .. ")")
            add_header(ctx, item, fam, off, alen, raw, a.name)
            local o, stop = off + NLA_HDRLEN, off + alen
            local texts = {}
            if format.header then
              local st = fam.structs[format.header]
              if plen < st.size then
                item:add_proto_expert_info(fam.ex.malformed, string.format("%s: struct %s needs %d bytes, this one has %d",
                                                                            a.name, st.key, st.size, plen))
                ctx.problems.malformed = true
                o = stop
              else
                texts[#texts + 1] = decode_struct(ctx, item, o, st, le)
                o = o + st.size
              end
            end
            if format.set then
              local cvals = walk(ctx, item, o, stop, fam.sets[format.set], depth + 1, vals)
              texts[#texts + 1] = summarize(fam.sets[format.set], cvals)
            elseif o < stop then
              item:add_tvb_expert_info(fam.ex.trailing, tvb(o, stop - o),
                                       string.format("%d byte(s) after sub-message %s's header", stop - o, a.sub_message))
            end
            local text = table.concat(texts, ", "):gsub("^, ", ""):gsub(", $", "")
            if text ~= "" then item:append_text(": " .. text) end
            v = plen
          else -- bytes, pad
            if plen == 0 then
              item = tree:add(a.field, whole)
              item:set_text(a.name .. ": (empty)")
            else
              item = tree:add(a.field, payload)
            end
            v = plen
            add_header(ctx, item, fam, off, alen, raw, a.name)
          end
          record(ctx, a, v)
          if vals[a.key] == nil then
            -- key: the value as sub-message formats name it (a string, an enum entry, a number).
            local key = v
            if a.enum_def then key = a.enum_def.keys[v] or tostring(v) elseif type(v) ~= "string" then key = tostring(v) end
            vals[a.key] = { v = v, shown = shown, key = key }
          end
          if a.alias_field then
            if a.alias.when then
              pending[#pending + 1] = { a = a, item = item, range = payload, v = v }
            else
              item:add(a.alias_field, payload, v):set_generated()
            end
          end
        end

        walk = function(ctx, tree, off, stop, set, depth, outer)
          local tvb, fam = ctx.tvb, set.fam
          local vals, count, seen, pending = {}, 0, {}, {}
          if depth > MAX_DEPTH then
            tree:add_tvb_expert_info(fam.ex.malformed, tvb(off, stop - off),
                                     string.format("nested deeper than %d levels; not decoded", MAX_DEPTH))
            ctx.problems.malformed = true
            return vals, count
          end
          while off < stop do
            local left = stop - off
            if left < NLA_HDRLEN then
              tree:add_tvb_expert_info(fam.ex.trailing, tvb(off, left),
                                       string.format("%d byte(s) after the last attribute of %s", left, set.key))
              break
            end
            local alen = u16(tvb(off, 2), ctx.le)
            local raw = u16(tvb(off + 2, 2), ctx.le)
            local t = band(raw, NLA_TYPE_MASK)
            if alen < NLA_HDRLEN or alen > left then
              local why
              if alen < NLA_HDRLEN then
                why = "is shorter than the 4-byte attribute header"
              else
                why = string.format("runs %d byte(s) past the end of its %s nest", alen - left, set.key)
              end
              tree:add_tvb_expert_info(fam.ex.malformed, tvb(off, left),
                                       string.format("attribute %d at offset %d: nla_len %d %s", t, NLMSG_HDRLEN + off, alen, why))
              ctx.problems.malformed = true
              break
            end
            count = count + 1
            local a = set.by_type[t]
            if a then
              local index = seen[t] or 0
              seen[t] = index + 1
              decode_attr(ctx, tree, off, alen, raw, a, index, vals, pending, depth, outer)
            else
              local item = tree:add(fam.f.attr_unknown, tvb(off, alen))
              item:set_text(string.format("Attribute %d (not in %s %s): %d bytes", t, fam.name, set.key, alen - NLA_HDRLEN))
              add_header(ctx, item, fam, off, alen, raw, nil)
              item:add_proto_expert_info(fam.ex.unknown_attr, string.format("attribute %d is not in the set %s", t, set.key))
            end
            off = off + band(alen + 3, bnot(3))
          end
          -- Aliases that depend on a sibling (IDENTIFIER is an ifindex when IDENTIFIER_TYPE says so).
          for _, p in ipairs(pending) do
            local cond = vals[p.a.alias.when]
            if cond and cond.v == p.a.alias.equals then
              p.item:add(p.a.alias_field, p.range, p.v):set_generated()
            end
          end
          return vals, count
        end

        ------------------------------------------------------------------------------------------------
        -- Messages.

        -- genl gives Lua neither the nlmsghdr nor its byte-order guess: read them from the netlink
        -- layer's fields, whose last occurrence belongs to the message being dissected.
        local f_hdr_len = Field.new("netlink.hdr_len")
        local f_hdr_flags = Field.new("netlink.hdr_flags")

        local function last(field)
          local all = { field() }
          return all[#all]
        end

        -- nlmsg_len read little-endian equals its decoded value only in a little-endian packet.
        local function little_endian()
          local fi = last(f_hdr_len)
          if fi == nil or fi.len ~= 4 then return true end
          return fi.range:le_uint() == fi.value
        end

        local function set_columns(pinfo, short, text)
          pinfo.cols.protocol:set(short)
          local current = tostring(pinfo.cols.info)
          -- Without columns (tshark -V alone) the column reads "(info)" and writing to it does nothing.
          if current == "" or current:match("^%(%a*%)$") then
            pinfo.cols.info:set(text)
          else
            pinfo.cols.info:append(" | " .. text)
          end
          -- genl clears the Info column before each message; the fence keeps this one's text when a
          -- packet holds several messages.
          pinfo.cols.info:fence()
        end

        local function command_name(fam, cmd)
          return fam.spec.commands[cmd] or ("cmd " .. tostring(cmd))
        end

        local function push(words, s) words[#words + 1] = s end

        -- The project's own families (net_flow_nl and nfl_hairpin), when this plugin has them: their
        -- Info texts and the call id below. NEED is empty otherwise.
        local NFL, NFLH
        local flow_table_words
        if next(NEED) ~= nil then
        NFL = N.nfl_flows.fam
        NFLH = N.nflh_encap.fam

        -- Info words for a net_flow_nl attribute set (the API leg, or an ENCAP's ATTR).
        flow_table_words = function(ctx, words)
          local id = fact(ctx, N.nfl_identifier)
          if id ~= nil then
            if fact(ctx, N.nfl_identifier_type) == N.nfl_ifindex then
              push(words, "ifindex " .. tostring(id))
            else
              push(words, "identifier " .. tostring(id))
            end
          end
          for _, a in ipairs(NFL.top.list) do
            local n = a.kind == "nest" and fact(ctx, a)
            if n then
              if a == N.nfl_flows and ctx.alt then
                local t = fact(ctx, N.nfl_selector_table)
                if t ~= nil then push(words, "table " .. tostring(t)) end
                local lo, hi = fact(ctx, N.nfl_selector_minprio), fact(ctx, N.nfl_selector_maxprio)
                if lo ~= nil or hi ~= nil then
                  push(words, "prio " .. tostring(lo or 0) .. "-" .. (hi ~= nil and tostring(hi) or "max"))
                end
              elseif a == N.nfl_flows then
                push(words, plural(n, "flow"))
                local tables, seen = {}, {}
                for _, t in ipairs(all_facts(ctx, N.nfl_flow_table)) do
                  if not seen[t] then
                    seen[t] = true
                    tables[#tables + 1] = t
                  end
                end
                table.sort(tables)
                if #tables == 1 then push(words, "table " .. tostring(tables[1])) end
                if #tables > 1 then push(words, "tables " .. table.concat(tables, ",")) end
                local errors, eseen = {}, {}
                for _, e in ipairs(all_facts(ctx, N.nfl_flow_error)) do
                  if e ~= 0 and not eseen[e] then
                    eseen[e] = true
                    errors[#errors + 1] = ERRNO[e] or tostring(e)
                  end
                end
                if #errors > 0 then push(words, "error " .. table.concat(errors, ",")) end
              elseif a.nest_set.element then
                push(words, plural(n, a.nest_set.element))
              else
                push(words, a.key)
              end
            end
          end
          local strategy = fact(ctx, N.nfl_flows_error)
          if strategy ~= nil then
            push(words, "errstrategy " .. (N.nfl_flows_error.names[strategy] or tostring(strategy)))
          end
        end

        -- FLOWS holds the selector only in a GET_FLOWS request, which on the API leg is the message
        -- with NLM_F_REQUEST.
        NFL.alt_for = function(ctx) return ctx.cmd == N.nfl_get_flows and ctx.request end

        NFL.info = function(ctx)
          local words = { command_name(NFL, ctx.cmd), ctx.request and "req" or "rsp" }
          flow_table_words(ctx, words)
          return table.concat(words, " ")
        end

        -- Inside an ENCAP the request is the one without STATUS (ENCAP requests come from the kernel
        -- without NLM_F_REQUEST). STATUS may follow ATTR, so look before walking.
        ENTER[N.nflh_encap_cmd.set] = function(ctx, off, stop)
          local found = scan(ctx, off, stop)
          local cmd_type = scan_u32(ctx, found, N.nflh_encap_cmd_type)
          local cmd = scan_u32(ctx, found, N.nflh_encap_cmd)
          ctx.inner_alt = (cmd_type == nil or cmd_type == N.nflh_nfl_command) and cmd == N.nfl_get_flows
                          and found[N.nflh_encap_status.value] == nil
        end

        NFLH.info = function(ctx)
          local words = { command_name(NFLH, ctx.cmd) }
          if fact(ctx, N.nflh_encap) ~= nil then
            local cmd, cmd_type = fact(ctx, N.nflh_encap_cmd), fact(ctx, N.nflh_encap_cmd_type)
            if cmd ~= nil then
              if cmd_type == nil or cmd_type == N.nflh_nfl_command then
                push(words, command_name(NFL, cmd))
              else
                push(words, "cmd-type " .. tostring(cmd_type) .. " cmd " .. tostring(cmd))
              end
            end
            local seq = fact(ctx, N.nflh_encap_seq)
            if seq ~= nil then push(words, "seq " .. tostring(seq)) end
            local status = fact(ctx, N.nflh_encap_status)
            if status == nil then
              push(words, "request")
            else
              push(words, "answer status " .. errno_text(status))
            end
            local part = fact(ctx, N.nflh_encap_part)
            if part ~= nil then push(words, "part " .. tostring(part)) end
            if fact(ctx, N.nflh_encap_more) ~= nil then push(words, "more") end
            for _, inner in ipairs(ctx.inner) do flow_table_words(inner, words) end
            local results = fact(ctx, N.nflh_encap_results)
            if results ~= nil then
              local failed = 0
              for _, e in ipairs(all_facts(ctx, N.nflh_result_errno)) do
                if e ~= 0 then failed = failed + 1 end
              end
              push(words, plural(results, "result"))
              if failed > 0 then push(words, "(" .. failed .. " failed)") end
            end
            local msg = fact(ctx, N.nflh_encap_error_msg)
            if msg ~= nil then push(words, '"' .. msg .. '"') end
          else
            push(words, ctx.request and "req" or "rsp")
            local t = fact(ctx, N.nflh_listener_type)
            if t ~= nil then push(words, "type " .. (N.nflh_listener_type.names[t] or tostring(t))) end
            local port = fact(ctx, N.nflh_listener_port)
            if port ~= nil then push(words, "port " .. tostring(port)) end
          end
          return table.concat(words, " ")
        end
        end

        ------------------------------------------------------------------------------------------------
        -- The call id (spec/trace-format.md, "Calls"): what the frame's first message of our families
        -- says, kept by frame number for the postdissector below, which numbers the calls in frame order.

        local FRAME_FACTS = {}

        local function note_message(fam, ctx, number)
          if FRAME_FACTS[number] ~= nil then return end   -- only the frame's first message
          local m = { fam = fam, cmd = ctx.cmd }
          if fam == NFL then
            m.ifindex = fact(ctx, N.nfl_identifier)
          elseif fam == NFLH and ctx.cmd == N.nflh_encap_command then
            m.encap = true
            m.api_cmd = fact(ctx, N.nflh_encap_cmd) or 255
            m.seq = fact(ctx, N.nflh_encap_seq)
            m.status = fact(ctx, N.nflh_encap_status)
            m.part = fact(ctx, N.nflh_encap_part) or 0
            m.more = fact(ctx, N.nflh_encap_more) ~= nil
            if ctx.inner[1] ~= nil then m.ifindex = fact(ctx.inner[1], N.nfl_identifier) end
          end
          FRAME_FACTS[number] = m
        end

        local function dissect(fam, tvb, pinfo, tree)
          if tvb:len() < 4 then return 0 end   -- no genlmsghdr: genl shows what there is
          local le = little_endian()
          local hdr_flags = last(f_hdr_flags)
          local ctx = new_ctx(tvb, le, false)
          ctx.cmd = tvb(0, 1):uint()
          ctx.flags = hdr_flags and hdr_flags.value or 0
          ctx.request = band(ctx.flags, NLM_F_REQUEST) ~= 0
          if fam.alt_for then ctx.alt = fam.alt_for(ctx) end

          local root = tree:add(fam.proto, tvb())
          root:add(fam.f.cmd, tvb(0, 1))
          root:add(fam.f.version, tvb(1, 1))
          root:add(fam.f.reserved, tvb(2, 2), u16(tvb(2, 2), le))
          -- The operation's set and fixed header, by direction (devlink answers GET with another number).
          local set, start, name, header = fam.top, 4, nil, nil
          local ops = fam.spec[ctx.request and "req" or "rsp"]
          if ops then
            local op = ops[ctx.cmd]
            set, name = op and op.set and fam.sets[op.set], op and op.name
            header = op and op.header and fam.structs[op.header]
          end
          -- Whatever the bytes, the user gets expert info and the rest of the packet, never a Lua error.
          local ok, text = pcall(function()
            if header and 4 + header.size > tvb:len() then
              root:add_proto_expert_info(fam.ex.malformed, string.format("fixed header %s needs %d bytes, the message has %d",
                                                                         header.key, header.size, tvb:len() - 4))
              ctx.problems.malformed = true
              set = nil
            elseif header then
              local item = root:add(fam.f.fixed_header, tvb(4, header.size))
              item:append_text(" (" .. header.key .. ")")
              local htext = decode_struct(ctx, item, 4, header, le)
              if htext ~= "" then item:append_text(": " .. htext) end
              start = 4 + header.size
            end
            if set and start <= tvb:len() then
              walk(ctx, root, start, tvb:len(), set, 1)
            elseif tvb:len() > 4 then
              root:add(fam.f.attr_data, tvb(4))
            end
            if fam.info then return fam.info(ctx) end
            return (name or command_name(fam, ctx.cmd)) .. (ctx.request and " req" or " rsp")
          end)
          if not ok then
            root:add_proto_expert_info(fam.ex.failure, "dissector failure: " .. tostring(text))
            text = command_name(fam, ctx.cmd) .. " (not decoded)"
          elseif ctx.problems.malformed then
            text = text .. " [malformed]"
          end
          -- (Even when the walk found it malformed: a first pass without a tree cannot tell a GET_FLOWS
          -- request from its reply, so reads its selector as flows.)
          if ok and not pinfo.visited then note_message(fam, ctx, pinfo.number) end
          root:append_text(": " .. text)
          if not le then root:append_text(" [big-endian]") end
          set_columns(pinfo, fam.short, text)
          return tvb:len()
        end

        for _, fam in ipairs(ORDER) do
          fam.proto.dissector = function(tvb, pinfo, tree) return dissect(fam, tvb, pinfo, tree) end
          genl_family:add(fam.name, fam.proto)
        end

        ------------------------------------------------------------------------------------------------
        -- NLMSG_ERROR / ACK / DONE and nlctrl: netlink never passes control messages to a family
        -- dissector, so a postdissector labels them, naming the family an ACK answers (learnt from the
        -- nlctrl messages, as genl does) and the extended-ack text.

        local control = Proto("flowtrace", "FlowTrace netlink control messages")
        local cf = {
          error = ProtoField.int32("flowtrace.ack.error", "Error", base.DEC, NEG_ERRNO, nil,
                                   "nlmsgerr.error: 0 for an ACK, else a negative errno"),
          family = ProtoField.string("flowtrace.ack.family", "Family", nil, "The family of the request answered"),
          seq = ProtoField.uint32("flowtrace.ack.seq", "Sequence", base.DEC),
          msg = ProtoField.string("flowtrace.ack.msg", "Message", nil, "Extended ack text (NLMSGERR_ATTR_MSG)"),
        }
        cf.call = ProtoField.uint32("flowtrace.call", "Call", base.DEC, nil, nil,
                                    "The call id: the same on every message of one NDO call, on both legs")
        -- Wireshark 4.0 takes framenum's frame type where other fields take their value string.
        cf.request_in = ProtoField.framenum("flowtrace.request_in", "Request in", base.NONE, frametype.REQUEST, nil,
                                            "The frame of this call's request on this leg")
        cf.answer_in = ProtoField.framenum("flowtrace.answer_in", "Answer in", base.NONE, frametype.RESPONSE, nil,
                                           "The frame of this call's final answer on this leg")
        control.fields = { cf.error, cf.family, cf.seq, cf.msg, cf.call, cf.request_in, cf.answer_in }

        local f_hdr_type = Field.new("netlink.hdr_type")
        local f_ctrl_cmd = Field.new("genl.ctrl.cmd")
        local f_ctrl_id = Field.new("genl.ctrl.family_id")
        local f_ctrl_name = Field.new("genl.ctrl.family_name")
        local KNOWN_IDS = { [GENL_ID_CTRL] = "nlctrl" }
        local CTRL_COMMANDS = { [1] = "NEWFAMILY", [2] = "DELFAMILY", [3] = "GETFAMILY" }

        local function control_message(tvb, tree, fi, skip, texts)
          local h = fi.offset - 4          -- nlmsg_type sits 4 bytes into the header
          if skip[h] or h < 0 or h + NLMSG_HDRLEN > tvb:len() then return end
          local le = tvb(fi.offset, 2):le_uint() == fi.value
          local function u(off, n) return read_int(tvb(off, n), n, false, le) end
          local len, flags, seq = u(h, 4), u(h + 6, 2), u(h + 8, 4)
          if fi.value == NLMSG_DONE then
            texts[#texts + 1] = "DONE seq " .. seq
            return
          end
          if fi.value ~= NLMSG_ERROR or h + NLMSG_HDRLEN + 4 + NLMSG_HDRLEN > tvb:len() then return end
          local err = read_int(tvb(h + NLMSG_HDRLEN, 4), 4, true, le)
          local rq = h + NLMSG_HDRLEN + 4  -- the echoed request header
          skip[rq] = true
          local rq_len, rq_type = u(rq, 4), u(rq + 4, 2)
          local family = KNOWN_IDS[rq_type] or string.format("family 0x%x", rq_type)
          local stop = math.min(h + len, tvb:len())
          local t = tree:add(control, tvb(h, stop - h))
          t:add(cf.error, tvb(h + NLMSG_HDRLEN, 4), err)
          t:add(cf.family, tvb(rq + 4, 2), family)
          t:add(cf.seq, tvb(h + 8, 4), seq)
          local msg
          if band(flags, NLM_F_ACK_TLVS) ~= 0 then
            local off = rq + NLMSG_HDRLEN
            if band(flags, NLM_F_CAPPED) == 0 then off = rq + band(rq_len + 3, bnot(3)) end
            while stop - off >= NLA_HDRLEN do
              local alen, at = u(off, 2), band(u(off + 2, 2), NLA_TYPE_MASK)
              if alen < NLA_HDRLEN or alen > stop - off then break end
              if at == NLMSGERR_ATTR_MSG then
                msg = cstring(tvb(off + NLA_HDRLEN, alen - NLA_HDRLEN))
                t:add(cf.msg, tvb(off, alen), msg)
              end
              off = off + band(alen + 3, bnot(3))
            end
          end
          local text
          if err == 0 then
            text = "ACK " .. family .. " seq " .. seq
          else
            text = string.format("ERROR %s (%d) %s seq %d", NEG_ERRNO[err] or "errno?", err, family, seq)
            if msg then text = text .. ': "' .. msg .. '"' end
          end
          t:set_text("FlowTrace: " .. text)
          texts[#texts + 1] = text
          local ours = FAMILIES[family]
          if ours then texts.protocol = ours.short end
        end

        -- The tracker's state, filled on the first (in-order) pass; later passes read FRAME_CALL.
        local CALLS = { n = 0 }      -- call id -> frames: api_req, api_final, encap_req, encap_final
        local FRAME_CALL = {}        -- frame number -> { call, req (the request's frame), answer_of }
        local api_open, waiting, encap_open, answer_ring = {}, {}, {}, {}
        local ctrl_open = {}         -- nlctrl calls by "port:seq" (rule 6; the process is not read)
        local RING = 256
        local COOKED_HDRLEN = 16     -- LINKTYPE_NETLINK's pseudo-header
        -- Family ids seen on our messages: KNOWN_IDS is learnt from nlctrl's fields, which a first pass
        -- without a tree (tshark -2) does not fill.
        local FAMILY_OF = {}

        -- A new file, or every packet dissected again from the first (a reload, changed preferences):
        -- the frames are seen in order once more, so the numbering starts over.
        function control.init()
          CALLS, FRAME_CALL, FRAME_FACTS, FAMILY_OF = { n = 0 }, {}, {}, {}
          api_open, waiting, encap_open, answer_ring = {}, {}, {}, {}
          ctrl_open = {}
        end

        local function new_call()
          CALLS.n = CALLS.n + 1
          CALLS[CALLS.n] = {}
          return CALLS.n
        end

        local function unqueue(c)
          local q = waiting[c.queue]
          if q == nil then return end
          for i, id in ipairs(q) do
            if id == c.call then table.remove(q, i) return end
          end
        end

        -- The open call of `open` an answer belongs to: by port and seq, else (0, seq) (a request
        -- sent with port 0). Returns the call and its key.
        local function open_call(open, pid, seq)
          local key = pid .. ":" .. seq
          local c = open[key]
          if c == nil and pid ~= 0 then
            key = "0:" .. seq
            c = open[key]
          end
          return c, key
        end

        -- An answer of an nlctrl call. Last: the ACK or error, a dump's NLMSG_DONE, the reply of a
        -- request that asked for neither a dump nor an ACK.
        local function ctrl_answer(pid, seq, frame, kind)
          local c, key = open_call(ctrl_open, pid, seq)
          if c == nil then return nil end
          if kind == "ack" or (kind == "done" and c.dump) or (kind == "reply" and not c.dump and not c.ack) then
            ctrl_open[key] = nil
            CALLS[c.call].ctrl_final = frame
          end
          return { call = c.call, req = c.frame }
        end

        -- One step of the rule for the frame's first message; returns { call, req, answer_of }.
        local function track(tvb, pinfo)
          -- Read from the bytes, not from netlink's fields: a first pass without a tree (tshark -2)
          -- fills no fields. The message follows the 16-byte cooked header, in the writer's byte order:
          -- the one in which its nlmsg_len fits the packet.
          local h = COOKED_HDRLEN
          if h + NLMSG_HDRLEN > tvb:len() then return nil end
          local n_le = tvb(h, 4):le_uint()
          local le = n_le >= NLMSG_HDRLEN and n_le <= tvb:len() - h
          local function u(off, n) return read_int(tvb(off, n), n, false, le) end
          local frame, typ, flags, seq, pid = pinfo.number, u(h + 4, 2), u(h + 6, 2), u(h + 8, 4), u(h + 12, 4)
          local api_answer, final, done = false, false, false
          local generic = tvb(14, 2):uint() == 16   -- the cooked header's protocol, big endian
          if typ == NLMSG_ERROR then
            if h + NLMSG_HDRLEN + 4 + NLMSG_HDRLEN > tvb:len() then return nil end
            local rq = h + NLMSG_HDRLEN + 4
            local rq_type, echoed = u(rq + 4, 2), u(rq + 8, 4)
            local family = FAMILY_OF[rq_type] or KNOWN_IDS[rq_type]
            if family == "nfl_hairpin" then
              local e = answer_ring[echoed % RING]
              if e ~= nil and e.seq == echoed then return { call = e.call } end
              return nil
            elseif generic and rq_type == GENL_ID_CTRL then
              return ctrl_answer(pid, echoed, frame, "ack")
            elseif family ~= "net_flow_nl" then
              return nil
            end
            api_answer, final, seq = true, true, echoed
          elseif typ == NLMSG_DONE then
            api_answer, done = true, true
          elseif generic and typ == GENL_ID_CTRL then
            -- nlctrl's requests are calls as any family's; its notifications (port and seq 0) are not.
            if band(flags, NLM_F_REQUEST) ~= 0 then
              local call = new_call()
              CALLS[call].ctrl_req = frame
              ctrl_open[pid .. ":" .. seq] = {
                call = call, frame = frame, dump = band(flags, 0x300) == 0x300, ack = band(flags, 0x4) ~= 0 }
              return { call = call, answer_of = "ctrl_final" }
            end
            if pid == 0 and seq == 0 then return nil end
            return ctrl_answer(pid, seq, frame, "reply")
          else
            local m = FRAME_FACTS[frame]
            if m == nil then return nil end
            FAMILY_OF[typ] = m.fam.name
            if m.fam == NFL and band(flags, NLM_F_REQUEST) ~= 0 then
              local call = new_call()
              CALLS[call].api_req = frame
              local key = pid .. ":" .. seq
              local old = api_open[key]
              if old ~= nil then unqueue(old) end
              local qk = tostring(m.cmd) .. ":" .. tostring(m.ifindex or "-")
              waiting[qk] = waiting[qk] or {}
              table.insert(waiting[qk], call)
              -- A dump (NLM_F_DUMP) is never ACKed: its NLMSG_DONE is its final answer.
              api_open[key] = { call = call, queue = qk, dump = band(flags, 0x300) == 0x300 }
              return { call = call, answer_of = "api_final" }
            elseif m.fam == NFL then
              api_answer = true
            elseif m.encap and m.seq ~= nil and m.seq:higher() < 0x80000000 then
              local sk = tostring(m.seq)
              local c = encap_open[sk]
              if m.status == nil then
                if c ~= nil then return { call = c.call, req = c.frame } end
                if m.part ~= 0 then return nil end
                local call
                local q = waiting[tostring(m.api_cmd) .. ":" .. tostring(m.ifindex or "-")]
                if q ~= nil and #q > 0 then call = table.remove(q, 1) else call = new_call() end
                CALLS[call].encap_req = frame
                encap_open[sk] = { call = call, frame = frame }
                return { call = call, answer_of = "encap_final" }
              end
              if c == nil then return nil end
              if not m.more then
                encap_open[sk] = nil
                CALLS[c.call].encap_final = frame
              end
              answer_ring[seq % RING] = { seq = seq, call = c.call }
              return { call = c.call, req = c.frame }
            else
              return nil
            end
          end
          if not api_answer then return nil end
          local c, key = open_call(api_open, pid, seq)
          if c == nil then
            if done then return ctrl_answer(pid, seq, frame, "done") end
            return nil
          end
          if final or (done and c.dump) then
            unqueue(c)
            api_open[key] = nil
            CALLS[c.call].api_final = frame
          end
          return { call = c.call, req = CALLS[c.call].api_req }
        end

        local function call_items(tvb, pinfo, tree)
          local fc
          if pinfo.visited then
            fc = FRAME_CALL[pinfo.number]
          else
            local ok, r = pcall(track, tvb, pinfo)
            if ok then fc = r end
            FRAME_CALL[pinfo.number] = fc or false
            FRAME_FACTS[pinfo.number] = nil   -- read once, in this first pass
          end
          if not fc then return end
          local t = tree:add(control, tvb(0, 0), "FlowTrace call " .. fc.call)
          t:add(cf.call, fc.call):set_generated()
          if fc.req ~= nil and fc.req ~= pinfo.number then t:add(cf.request_in, fc.req):set_generated() end
          local answer = fc.answer_of and CALLS[fc.call][fc.answer_of]
          if answer ~= nil then t:add(cf.answer_in, answer):set_generated() end
        end

        function control.dissector(tvb, pinfo, tree)
          local texts = {}
          local ids, names = { f_ctrl_id() }, { f_ctrl_name() }
          if #names > 0 then
            local cmd = last(f_ctrl_cmd)
            local text = (cmd and CTRL_COMMANDS[cmd.value] or "nlctrl") .. " " .. names[#names].value
            if #ids == #names then
              for i = 1, #ids do KNOWN_IDS[ids[i].value] = names[i].value end
              text = text .. string.format(" id 0x%x", ids[#ids].value)
            end
            texts[#texts + 1] = text
          end
          call_items(tvb, pinfo, tree)
          local types = { f_hdr_type() }
          if #types > 0 then
            local skip = {}
            for _, fi in ipairs(types) do
              local ok = pcall(control_message, tvb, tree, fi, skip, texts)
              if not ok then break end   -- labels only; netlink's own tree shows the message
            end
          end
          if #texts == 0 then return end
          if texts.protocol then pinfo.cols.protocol:set(texts.protocol) end
          local text = table.concat(texts, " | ")
          local current = tostring(pinfo.cols.info)
          if current == "" or current:match("^%(%a*%)$") then
            pinfo.cols.info:set(text)
          else
            pinfo.cols.info:append(" | " .. text)
          end
        end

        register_postdissector(control)
        """#
}
