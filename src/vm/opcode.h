/* vm/opcode.h (internal to vm/): which VM instruction a count hook is
 * about to run, for the charges that depend on its operands (meter.c).
 *
 * Stock Lua has no public way to see the current instruction, so this reads
 * a few of Lua 5.4.4's private structures, and nothing else in the node
 * does. What it assumes, all from Lua 5.4.4's lstate.h / lobject.h /
 * lopcodes.h on LP64:
 *   - lua_Debug.i_ci (a count hook's ar) is the running Lua function's
 *     CallInfo, which starts { StkId func; StkId top; CallInfo *previous,
 *     *next; const Instruction *savedpc; sig_atomic_t trap; int nextraargs; }
 *     and, inside a count hook, savedpc points one past the instruction
 *     about to run (luaG_traceexec);
 *   - *func is the TValue of that function, a Lua closure whose Proto
 *     starts with the fields of struct ll_proto below (k: the constants,
 *     p: the nested functions, upvalues: 16-byte descriptors whose bytes 8
 *     and 9 are instack and idx);
 *   - a constant TValue is 16 bytes, its tag at byte 8 (0x44 a short
 *     string, 0x54 a long one, 0x45 a table), and a TString keeps its short
 *     length at byte 11 and a long length at byte 16;
 *   - the stack is an array of 16-byte TValues from func; register r of the
 *     running function is func + 1 + r;
 *   - a Table starts { next; tt, marked, flags, lsizenode; alimit; array;
 *     node; lastfree; metatable; } and luaH_getn of one with alimit 0,
 *     flags 0 and lastfree NULL (a "dummy" hash part) is 0;
 *   - instructions are 32 bits: opcode 7, A 8, k 1, B 8, C 8 (Bx: the 17
 *     bits above A), numbered as lopcodes.h lists them.
 * A build against other Lua headers fails to compile, and ll_vm_selftest()
 * proves every assumption at run time on chunks whose instructions are
 * known (vm.c refuses to run contracts when it fails).
 *
 * Threads: any; everything here reads the state of the thread calling it. */
#ifndef LL_VM_OPCODE_H
#define LL_VM_OPCODE_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#if LUA_VERSION_RELEASE_NUM != 50404
#error "vm/opcode.c reads Lua 5.4.4's private structures; check them for this Lua"
#endif

/* Strings up to this length are interned ("short"): equal ones are one
 * object (llimits.h's LUAI_MAXSHORTLEN). */
#define LL_VM_SHORT_STRING 40

/* The opcodes meter.c looks at (lopcodes.h's numbering in 5.4.4). */
enum {
    LL_OP_LOADI = 1,
    LL_OP_GETTABLE = 12,
    LL_OP_SETTABLE = 16,
    LL_OP_NEWTABLE = 19,
    LL_OP_POWK = 26,
    LL_OP_POW = 38,
    LL_OP_SELF = 20,
    LL_OP_LEN = 52,
    LL_OP_CONCAT = 53,
    LL_OP_EQ = 57,
    LL_OP_LT = 58,
    LL_OP_LE = 59,
    LL_OP_EQK = 60,
    LL_OP_CALL = 68,
    LL_OP_TAILCALL = 69,
    LL_OP_RETURN = 70,
    LL_OP_SETLIST = 78,
    LL_OP_CLOSURE = 79,
    LL_OP_VARARG = 80,
    LL_OP_COUNT = 83,
};

/* One decoded instruction. */
typedef struct ll_vm_op {
    int op, a, b, c, k, bx;
} ll_vm_op_t;

/* Decodes the instruction a count hook (ar) is about to run. */
void ll_vm_op_fetch(const lua_Debug *ar, ll_vm_op_t *op);

/* The Ax of the EXTRAARG that follows the instruction about to run. */
int ll_vm_op_extraarg(const lua_Debug *ar);

/* The number of extra arguments of the running vararg function (what a
 * VARARG with C == 0 copies). */
int ll_vm_op_nextra(const lua_Debug *ar);

/* The length of the running function's constant K[idx] if it is a string,
 * else 0. */
size_t ll_vm_op_kstrlen(const lua_Debug *ar, int idx);

/* Registers of the running function. */
int ll_vm_op_framesize(const lua_Debug *ar);

/* A bound on the steps CLOSURE Bx spends finding its upvalues among the open
 * ones of this frame: for each upvalue on the stack, the registers above it. */
uint64_t ll_vm_op_closure_steps(const lua_Debug *ar, int bx);

/* `#t` is Lua's luaH_getn, which returns any border of a table with holes
 * (which one depends on the table's array size, and so on the hash seed)
 * and can probe the hash part a hundred times. meter.c computes a border
 * itself instead, and lets LEN run on a stand-in: ll_vm_op_len_swap
 * replaces register reg (a table) with an empty table that owns nothing,
 * whose luaH_getn returns 0 at once (LEN on a table without a metatable
 * neither allocates nor raises, so nothing else runs before the next
 * instruction); ll_vm_op_len_restore, before that next instruction, puts
 * the saved value back. saved is 16 bytes. */
void ll_vm_op_len_swap(const lua_Debug *ar, int reg, void *saved);
void ll_vm_op_len_restore(const lua_Debug *ar, int reg, const void *saved);

/* 0 when every assumption above holds for the Lua this process runs, else
 * -1 (and nothing that depends on them may run). */
int ll_vm_op_selftest(void);

#endif
