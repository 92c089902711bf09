//! cgroup v2 has no device files: device access is decided by an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup. This module compiles a plan's
//! [`DeviceRule`] list into that program (pure; loading and attaching are the runtime's job).
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }` where
//! `access_type = access << 16 | type` (type: 1 block, 2 char; access: 1 mknod, 2 read, 4 write)
//! and returns 1 to allow, 0 to deny. Rules are checked from the last to the first, so the last
//! rule that matches decides (see [`DeviceRule`] for the matching rules); a list always starts
//! with "deny all", so nothing falls through.
use crate::plan::{DeviceKind, DeviceRule};

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel reads.
    pub fn to_bytes(self) -> [u8; 8] {
        let o = self.off.to_le_bytes();
        let i = self.imm.to_le_bytes();
        [
            self.code,
            (self.src << 4) | (self.dst & 0x0f),
            o[0],
            o[1],
            i[0],
            i[1],
            i[2],
            i[3],
        ]
    }
}

// Opcodes used (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const RSH64_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const AND64_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// `BPF_DEVCG_DEV_*`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// `BPF_DEVCG_ACC_*` bits of an `rwm` string.
pub fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |a, c| {
        a | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    })
}

/// The program for `rules` (registers: r2 type, r3 access, r4 major, r5 minor, r0 scratch).
pub fn device_program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),    // r2 = access_type
        insn(MOV64_X, 3, 2, 0, 0),      // r3 = r2
        insn(RSH64_K, 3, 0, 0, 16),     // r3 >>= 16 (access)
        insn(AND64_K, 2, 0, 0, 0xffff), // r2 &= 0xffff (type)
        insn(LDX_MEM_W, 4, 1, 4, 0),    // r4 = major
        insn(LDX_MEM_W, 5, 1, 8, 0),    // r5 = minor
    ];
    for r in rules.iter().rev() {
        // Each block: tests that jump past the block's end on a mismatch, then the verdict.
        let mut tests: Vec<(u8, u8, i32)> = Vec::new(); // (jump opcode, register, imm)
        match r.kind {
            DeviceKind::All => {}
            DeviceKind::Block => tests.push((JNE_K, 2, DEV_BLOCK)),
            DeviceKind::Char => tests.push((JNE_K, 2, DEV_CHAR)),
        }
        if let Some(m) = r.major {
            tests.push((JNE_K, 4, m as i32));
        }
        if let Some(m) = r.minor {
            tests.push((JNE_K, 5, m as i32));
        }
        let bits = access_bits(&r.access);
        let mut block: Vec<Insn> = Vec::new();
        let mut jumps: Vec<usize> = Vec::new();
        for (op, reg, imm) in tests {
            jumps.push(block.len());
            block.push(insn(op, reg, 0, 0, imm));
        }
        block.push(insn(MOV64_X, 0, 3, 0, 0)); // r0 = access
        if r.allow {
            // Allowed only when every requested bit is in the rule.
            block.push(insn(AND64_K, 0, 0, 0, !bits));
            jumps.push(block.len());
            block.push(insn(JNE_K, 0, 0, 0, 0));
        } else {
            // Denied as soon as one requested bit is in the rule.
            block.push(insn(AND64_K, 0, 0, 0, bits));
            jumps.push(block.len());
            block.push(insn(JEQ_K, 0, 0, 0, 0));
        }
        block.push(insn(MOV64_K, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for j in jumps {
            block[j].off = (len - j - 1) as i16;
        }
        p.extend(block);
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// The decision [`device_program`] encodes, evaluated directly (for tests and for explaining a
/// denial): `access` is a set of `BPF_DEVCG_ACC_*` bits.
pub fn decide(rules: &[DeviceRule], block: bool, major: u32, minor: u32, access: i32) -> bool {
    for r in rules.iter().rev() {
        let kind_ok = match r.kind {
            DeviceKind::All => true,
            DeviceKind::Block => block,
            DeviceKind::Char => !block,
        };
        if !kind_ok || r.major.is_some_and(|m| m != major) || r.minor.is_some_and(|m| m != minor) {
            continue;
        }
        let bits = access_bits(&r.access);
        if r.allow && access & !bits == 0 {
            return true;
        }
        if !r.allow && access & bits != 0 {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for exactly the instructions [`device_program`] emits.
    fn run(p: &[Insn], access_type: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access_type, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (d, s) = (usize::from(i.dst), usize::from(i.src));
            match i.code {
                LDX_MEM_W => r[d] = u64::from(ctx[(i.off / 4) as usize]),
                MOV64_X => r[d] = r[s],
                MOV64_K => r[d] = i.imm as i64 as u64,
                RSH64_K => r[d] >>= i.imm,
                AND64_K => r[d] &= i.imm as i64 as u64,
                JNE_K => {
                    if r[d] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                JEQ_K => {
                    if r[d] == i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc += 1;
        }
    }

    fn rule(
        allow: bool,
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.into(),
        }
    }

    #[test]
    fn the_program_decides_like_the_rules() {
        let rules = vec![
            DeviceRule::deny_all(),
            rule(true, DeviceKind::Char, None, None, "m"),
            rule(true, DeviceKind::Block, None, None, "m"),
            rule(true, DeviceKind::Char, Some(1), Some(3), "rwm"),
            rule(true, DeviceKind::Char, Some(136), None, "rwm"),
            rule(true, DeviceKind::Block, Some(8), Some(0), "r"),
            rule(false, DeviceKind::Char, Some(1), Some(3), "w"),
            rule(true, DeviceKind::All, Some(10), None, "rw"),
        ];
        let p = device_program(&rules);
        for block in [false, true] {
            for major in [0, 1, 5, 8, 10, 136, 254] {
                for minor in [0, 1, 3, 7] {
                    for access in 1..8 {
                        let t = if block { DEV_BLOCK } else { DEV_CHAR } as u32;
                        let got = run(&p, (access as u32) << 16 | t, major, minor) == 1;
                        let want = decide(&rules, block, major, minor, access);
                        assert_eq!(got, want, "block={block} {major}:{minor} access={access}");
                    }
                }
            }
        }
        // Spot checks of what the rules mean.
        assert!(decide(&rules, false, 1, 3, 2)); // read /dev/null
        assert!(!decide(&rules, false, 1, 3, 4)); // write /dev/null: the later deny w
        assert!(decide(&rules, true, 8, 0, 2));
        assert!(!decide(&rules, true, 8, 0, 4));
        assert!(!decide(&rules, true, 8, 1, 2));
        assert!(decide(&rules, false, 9, 9, 1)); // mknod of any char device
    }

    #[test]
    fn instructions_encode_like_struct_bpf_insn() {
        let i = insn(LDX_MEM_W, 4, 1, 4, 0);
        assert_eq!(i.to_bytes(), [0x61, 0x14, 4, 0, 0, 0, 0, 0]);
        let j = insn(JNE_K, 2, 0, 3, 2);
        assert_eq!(j.to_bytes(), [0x55, 0x02, 3, 0, 2, 0, 0, 0]);
    }
}
