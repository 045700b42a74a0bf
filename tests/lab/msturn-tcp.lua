-- MS-TURN over TCP for tshark (tests/lab/msturn.sh): [MS-TURN] 2.1.4's 4-byte
-- framing (type 0x02 control or 0x03 data, a zero, a 16-bit length) and, on
-- the TLS port, the pseudo-TLS records of 2.1.1 before it. Wireshark knows
-- neither, so the control frames' payload goes to its classicstun dissector
-- (the pre-RFC 5389 STUN/TURN one, which reads MS-TURN's unpadded attributes),
-- and whatever is neither a frame nor a handshake record is marked
-- msturn_tcp.bad, with an expert error.
local p = Proto("msturn_tcp", "MS-TURN TCP framing")
local f_type = ProtoField.uint8("msturn_tcp.type", "Frame type", base.HEX,
    { [2] = "TURN control message", [3] = "end-to-end data" })
local f_len = ProtoField.uint16("msturn_tcp.length", "Frame length")
local f_tls = ProtoField.bytes("msturn_tcp.pseudotls", "Pseudo-TLS record")
local f_bad = ProtoField.bool("msturn_tcp.bad", "Not MS-TURN framing")
p.fields = { f_type, f_len, f_tls, f_bad }
local e_bad = ProtoExpert.new("msturn_tcp.bad.expert", "neither a frame nor a pseudo-TLS record",
    expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { e_bad }

local classicstun = Dissector.get("classicstun")

function p.dissector(tvb, pinfo, tree)
    local n, off = tvb:len(), 0
    pinfo.cols.protocol = "MS-TURN/TCP"
    while off < n do
        local first = tvb(off, 1):uint()
        if first == 0x16 then
            if n - off < 5 then
                pinfo.desegment_offset, pinfo.desegment_len = off, DESEGMENT_ONE_MORE_SEGMENT
                return n
            end
            local rl = tvb(off + 3, 2):uint()
            if n - off < 5 + rl then
                pinfo.desegment_offset, pinfo.desegment_len = off, 5 + rl - (n - off)
                return n
            end
            tree:add(p, tvb(off, 5 + rl), "MS-TURN pseudo-TLS record"):add(f_tls, tvb(off, 5 + rl))
            off = off + 5 + rl
        elseif first == 0x02 or first == 0x03 then
            if n - off < 4 then
                pinfo.desegment_offset, pinfo.desegment_len = off, DESEGMENT_ONE_MORE_SEGMENT
                return n
            end
            local len = tvb(off + 2, 2):uint()
            if n - off < 4 + len then
                pinfo.desegment_offset, pinfo.desegment_len = off, 4 + len - (n - off)
                return n
            end
            local t = tree:add(p, tvb(off, 4 + len), "MS-TURN TCP frame")
            t:add(f_type, tvb(off, 1))
            t:add(f_len, tvb(off + 2, 2))
            if first == 0x02 and len > 0 then
                classicstun:call(tvb(off + 4, len):tvb(), pinfo, tree)
            end
            off = off + 4 + len
        else
            local t = tree:add(p, tvb(off), "not MS-TURN framing")
            t:add(f_bad, tvb(off, 1), true)
            t:add_proto_expert_info(e_bad)
            return n
        end
    end
    return n
end

local tcp = DissectorTable.get("tcp.port")
tcp:add(3478, p)
tcp:add(443, p)
