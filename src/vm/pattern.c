/* vm/pattern.c: string.find, match, gmatch and gsub for contracts, metered
 * per matcher step (API.md §6: no single call escapes metering). Lua's
 * backtracking matcher can spend time exponential in the pattern inside one
 * call (find(("a"):rep(40), ("a*"):rep(20) .. "b")), so wrapping the stock
 * functions cannot work: this is Lua 5.4's matcher from lstrlib.c (MIT
 * licence, Copyright (C) 1994-2022 Lua.org, PUC-Rio) with two changes:
 * every step charges gas, and the character classes (%a, %d, ...) are the C
 * locale's, fixed, whatever locale the process runs in.
 *
 * Costs (each unit is LL_VM_GAS_PER_BYTE): 1 per byte of the pattern, 1 per
 * matcher step (each position tried, each character tested, each byte %b or
 * a back-reference scans, each byte a plain find skips or compares, a
 * [set]'s length each time it is scanned), 1 per byte of captures and of
 * gsub's result. */
#include "vm/internal.h"

#include <string.h>

#define MAXCAPTURES 32
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
#define MAXDEPTH 200 /* recursion of do_match, as lstrlib's MAXCCALLS */
#define L_ESC '%'
#define SPECIALS "^$*+?.([%-"

typedef struct mstate {
    const char *src_init;
    const char *src_end; /* the subject's terminating NUL */
    const char *p_end;   /* the pattern's terminating NUL */
    lua_State *L;
    ll_vm_run_t *run;
    int depth;
    unsigned char level; /* captures, finished or not */
    struct {
        const char *init;
        ptrdiff_t len;
    } capture[MAXCAPTURES];
} mstate_t;

#define STEP(ms, n) ll_vm_take((ms)->L, (ms)->run, ll_vm_bytes(n))

static const char *do_match(mstate_t *ms, const char *s, const char *p);

static int check_capture(mstate_t *ms, int l)
{
    l -= '1';
    if (l < 0 || l >= ms->level || ms->capture[l].len == CAP_UNFINISHED)
        return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    return l;
}

static int capture_to_close(mstate_t *ms)
{
    int level = ms->level;
    for (level--; level >= 0; level--)
        if (ms->capture[level].len == CAP_UNFINISHED)
            return level;
    return luaL_error(ms->L, "invalid pattern capture");
}

static const char *classend(mstate_t *ms, const char *p)
{
    const char *start = p;
    switch (*p++) {
    case L_ESC:
        if (p == ms->p_end)
            luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    case '[':
        if (*p == '^')
            p++;
        do { /* look for a ']' */
            if (p == ms->p_end)
                luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*(p++) == L_ESC && p < ms->p_end)
                p++; /* skip escapes (e.g. '%]') */
        } while (*p != ']');
        STEP(ms, (size_t)(p - start));
        return p + 1;
    default:
        return p;
    }
}

static int is_lower(int c)
{
    return c >= 'a' && c <= 'z';
}

static int is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
    return is_lower(c) || is_upper(c);
}

static int is_graph(int c)
{
    return c > 32 && c < 127;
}

/* The classes of the C locale, fixed: every node answers the same. */
static int match_class(int c, int cl)
{
    int res;
    switch (is_upper(cl) ? cl + 32 : cl) {
    case 'a':
        res = is_alpha(c);
        break;
    case 'c':
        res = c < 32 || c == 127;
        break;
    case 'd':
        res = is_digit(c);
        break;
    case 'g':
        res = is_graph(c);
        break;
    case 'l':
        res = is_lower(c);
        break;
    case 'p':
        res = is_graph(c) && !is_alpha(c) && !is_digit(c);
        break;
    case 's':
        res = c == ' ' || (c >= '\t' && c <= '\r');
        break;
    case 'u':
        res = is_upper(c);
        break;
    case 'w':
        res = is_alpha(c) || is_digit(c);
        break;
    case 'x':
        res = is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'f');
        break;
    case 'z':
        res = c == 0;
        break;
    default:
        return cl == c;
    }
    return is_lower(cl) ? res : !res;
}

static int matchbracketclass(int c, const char *p, const char *ec)
{
    int sig = 1;
    if (*(p + 1) == '^') {
        sig = 0;
        p++; /* skip the '^' */
    }
    while (++p < ec) {
        if (*p == L_ESC) {
            p++;
            if (match_class(c, (unsigned char)*p))
                return sig;
        } else if (*(p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p)
                return sig;
        } else if ((unsigned char)*p == c) {
            return sig;
        }
    }
    return !sig;
}

static int singlematch(mstate_t *ms, const char *s, const char *p, const char *ep)
{
    int c;
    if (s >= ms->src_end)
        return 0;
    c = (unsigned char)*s;
    switch (*p) {
    case '.':
        STEP(ms, 1);
        return 1;
    case L_ESC:
        STEP(ms, 1);
        return match_class(c, (unsigned char)*(p + 1));
    case '[':
        STEP(ms, (size_t)(ep - p));
        return matchbracketclass(c, p, ep - 1);
    default:
        STEP(ms, 1);
        return (unsigned char)*p == c;
    }
}

static const char *matchbalance(mstate_t *ms, const char *s, const char *p)
{
    const char *start = s;
    if (p >= ms->p_end - 1)
        luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (*s != *p) /* at src_end, *s is the subject's NUL */
        return NULL;
    int b = *p, e = *(p + 1), cont = 1;
    while (++s < ms->src_end) {
        if (*s == e) {
            if (--cont == 0) {
                STEP(ms, (size_t)(s - start));
                return s + 1;
            }
        } else if (*s == b) {
            cont++;
        }
    }
    STEP(ms, (size_t)(s - start));
    return NULL; /* string ends out of balance */
}

static const char *max_expand(mstate_t *ms, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0; /* counts maximum expand for item */
    while (singlematch(ms, s + i, p, ep))
        i++;
    while (i >= 0) { /* try with the most repetitions first */
        const char *res = do_match(ms, s + i, ep + 1);
        if (res)
            return res;
        i--;
    }
    return NULL;
}

static const char *min_expand(mstate_t *ms, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *res = do_match(ms, s, ep + 1);
        if (res != NULL)
            return res;
        if (!singlematch(ms, s, p, ep))
            return NULL;
        s++; /* try with one more repetition */
    }
}

static const char *start_capture(mstate_t *ms, const char *s, const char *p, int what)
{
    const char *res;
    int level = ms->level;
    if (level >= MAXCAPTURES)
        luaL_error(ms->L, "too many captures");
    ms->capture[level].init = s;
    ms->capture[level].len = what;
    ms->level = (unsigned char)(level + 1);
    if ((res = do_match(ms, s, p)) == NULL) /* match failed? */
        ms->level--;                        /* undo capture */
    return res;
}

static const char *end_capture(mstate_t *ms, const char *s, const char *p)
{
    int l = capture_to_close(ms);
    const char *res;
    ms->capture[l].len = s - ms->capture[l].init; /* close capture */
    if ((res = do_match(ms, s, p)) == NULL)       /* match failed? */
        ms->capture[l].len = CAP_UNFINISHED;      /* undo capture */
    return res;
}

static const char *match_capture(mstate_t *ms, const char *s, int l)
{
    size_t len;
    l = check_capture(ms, l);
    if (ms->capture[l].len == CAP_POSITION) { /* a position never matches text */
        STEP(ms, 1);
        return NULL;
    }
    len = (size_t)ms->capture[l].len;
    STEP(ms, len + 1);
    if ((size_t)(ms->src_end - s) >= len && memcmp(ms->capture[l].init, s, len) == 0)
        return s + len;
    return NULL;
}

static const char *do_match(mstate_t *ms, const char *s, const char *p)
{
    if (ms->depth-- == 0)
        luaL_error(ms->L, "pattern too complex");
init: /* using goto to optimize tail recursion */
    STEP(ms, 1);
    if (p != ms->p_end) {
        switch (*p) {
        case '(':
            if (*(p + 1) == ')') /* position capture? */
                s = start_capture(ms, s, p + 2, CAP_POSITION);
            else
                s = start_capture(ms, s, p + 1, CAP_UNFINISHED);
            break;
        case ')':
            s = end_capture(ms, s, p + 1);
            break;
        case '$':
            if ((p + 1) != ms->p_end) /* not the last char in the pattern */
                goto dflt;
            s = (s == ms->src_end) ? s : NULL;
            break;
        case L_ESC:
            switch (*(p + 1)) {
            case 'b': /* balanced string */
                s = matchbalance(ms, s, p + 2);
                if (s != NULL) {
                    p += 4;
                    goto init;
                }
                break;
            case 'f': { /* frontier */
                const char *ep;
                char previous;
                p += 2;
                if (*p != '[')
                    luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                ep = classend(ms, p);
                previous = (s == ms->src_init) ? '\0' : *(s - 1);
                STEP(ms, 2 * (size_t)(ep - p));
                if (!matchbracketclass((unsigned char)previous, p, ep - 1) &&
                    matchbracketclass((unsigned char)*s, p, ep - 1)) {
                    p = ep;
                    goto init;
                }
                s = NULL;
                break;
            }
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9': /* back-reference %0-9 */
                s = match_capture(ms, s, (unsigned char)*(p + 1));
                if (s != NULL) {
                    p += 2;
                    goto init;
                }
                break;
            default:
                goto dflt;
            }
            break;
        default:
        dflt : { /* a single-character item, maybe repeated */
            const char *ep = classend(ms, p);
            if (!singlematch(ms, s, p, ep)) {
                if (*ep == '*' || *ep == '?' || *ep == '-') { /* accept empty? */
                    p = ep + 1;
                    goto init;
                }
                s = NULL;
            } else {
                switch (*ep) {
                case '?': {
                    const char *res = do_match(ms, s + 1, ep + 1);
                    if (res != NULL) {
                        s = res;
                    } else {
                        p = ep + 1;
                        goto init;
                    }
                    break;
                }
                case '+':
                    s = max_expand(ms, s + 1, p, ep);
                    break;
                case '*':
                    s = max_expand(ms, s, p, ep);
                    break;
                case '-':
                    s = min_expand(ms, s, p, ep);
                    break;
                default:
                    s++;
                    p = ep;
                    goto init;
                }
            }
            break;
        }
        }
    }
    ms->depth++;
    return s;
}

/* Plain search: 1 per byte memchr skips and per byte memcmp may compare. */
static const char *memfind(lua_State *L, const char *s1, size_t l1, const char *s2, size_t l2)
{
    const char *init;
    if (l2 == 0)
        return s1; /* empty strings are everywhere */
    if (l2 > l1)
        return NULL;
    l2--;         /* 1st char is checked by memchr */
    l1 = l1 - l2; /* s2 cannot be found after that */
    while (l1 > 0 && (init = memchr(s1, *s2, l1)) != NULL) {
        init++;
        ll_vm_charge_bytes(L, (size_t)(init - s1) + l2);
        if (memcmp(init, s2 + 1, l2) == 0)
            return init - 1;
        l1 -= (size_t)(init - s1);
        s1 = init;
    }
    ll_vm_charge_bytes(L, l1);
    return NULL;
}

/* The i-th capture: its length and *cap, or CAP_POSITION with the position
 * pushed. With no captures, i == 0 is the whole match s..e. */
static ptrdiff_t get_onecapture(mstate_t *ms, int i, const char *s, const char *e, const char **cap)
{
    ptrdiff_t capl;
    if (i >= ms->level) {
        if (i != 0)
            luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        *cap = s;
        return e - s;
    }
    capl = ms->capture[i].len;
    *cap = ms->capture[i].init;
    if (capl == CAP_UNFINISHED)
        luaL_error(ms->L, "unfinished capture");
    else if (capl == CAP_POSITION)
        lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
    return capl;
}

static void push_onecapture(mstate_t *ms, int i, const char *s, const char *e)
{
    const char *cap;
    ptrdiff_t l = get_onecapture(ms, i, s, e, &cap);
    STEP(ms, l == CAP_POSITION ? 1 : (size_t)l);
    if (l != CAP_POSITION)
        lua_pushlstring(ms->L, cap, (size_t)l);
}

static int push_captures(mstate_t *ms, const char *s, const char *e)
{
    int nlevels = (ms->level == 0 && s) ? 1 : ms->level;
    luaL_checkstack(ms->L, nlevels, "too many captures");
    for (int i = 0; i < nlevels; i++)
        push_onecapture(ms, i, s, e);
    return nlevels;
}

/* 1 when p has no special characters (NULs included). */
static int nospecials(const char *p, size_t l)
{
    size_t upto = 0;
    do {
        if (strpbrk(p + upto, SPECIALS))
            return 0;
        upto += strlen(p + upto) + 1; /* may have more after \0 */
    } while (upto <= l);
    return 1;
}

static void prepstate(mstate_t *ms, lua_State *L, const char *s, size_t ls, const char *p,
                      size_t lp)
{
    ms->L = L;
    ms->run = ll_vm_run_of(L);
    ms->depth = MAXDEPTH;
    ms->src_init = s;
    ms->src_end = s + ls;
    ms->p_end = p + lp;
}

static void reprepstate(mstate_t *ms)
{
    ms->level = 0;
    ms->depth = MAXDEPTH; /* an earlier error may have left it lower */
}

static int find_aux(lua_State *L, int find)
{
    size_t ls, lp, init;
    const char *s, *p;
    ll_vm_canon_nans(L, 1, 2);
    s = luaL_checklstring(L, 1, &ls);
    p = luaL_checklstring(L, 2, &lp);
    ll_vm_charge_strings(L, 3, 3);
    init = ll_vm_pos_start(luaL_optinteger(L, 3, 1), ls) - 1;
    ll_vm_charge_bytes(L, lp);
    if (init > ls) { /* start after string's end? */
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || nospecials(p, lp))) {
        const char *s2 = memfind(L, s + init, ls - init, p, lp);
        if (s2) {
            lua_pushinteger(L, (s2 - s) + 1);
            lua_pushinteger(L, (lua_Integer)((size_t)(s2 - s) + lp));
            return 2;
        }
    } else {
        mstate_t ms;
        const char *s1 = s + init;
        int anchor = (*p == '^');
        if (anchor) {
            p++;
            lp--;
        }
        prepstate(&ms, L, s, ls, p, lp);
        do {
            const char *res;
            reprepstate(&ms);
            if ((res = do_match(&ms, s1, p)) != NULL) {
                if (find) {
                    lua_pushinteger(L, (s1 - s) + 1); /* start */
                    lua_pushinteger(L, res - s);      /* end */
                    return push_captures(&ms, NULL, 0) + 2;
                }
                return push_captures(&ms, s1, res);
            }
        } while (s1++ < ms.src_end && !anchor);
    }
    luaL_pushfail(L); /* not found */
    return 1;
}

static int s_find(lua_State *L)
{
    return find_aux(L, 1);
}

static int s_match(lua_State *L)
{
    return find_aux(L, 0);
}

typedef struct gmstate {
    const char *src;       /* current position */
    const char *p;         /* pattern */
    const char *lastmatch; /* end of last match */
    mstate_t ms;
} gmstate_t;

/* The gmatch iterator; upvalues: subject, pattern, state. */
static int gmatch_aux(lua_State *L)
{
    gmstate_t *gm = lua_touserdata(L, lua_upvalueindex(3));
    const char *src;
    gm->ms.L = L;
    for (src = gm->src; src <= gm->ms.src_end; src++) {
        const char *e;
        reprepstate(&gm->ms);
        if ((e = do_match(&gm->ms, src, gm->p)) != NULL && e != gm->lastmatch) {
            gm->src = gm->lastmatch = e;
            return push_captures(&gm->ms, src, e);
        }
    }
    return 0; /* not found */
}

static int s_gmatch(lua_State *L)
{
    size_t ls, lp, init;
    const char *s, *p;
    ll_vm_canon_nans(L, 1, 2);
    s = luaL_checklstring(L, 1, &ls);
    p = luaL_checklstring(L, 2, &lp);
    gmstate_t *gm;
    ll_vm_charge_strings(L, 3, 3);
    init = ll_vm_pos_start(luaL_optinteger(L, 3, 1), ls) - 1;
    ll_vm_charge_bytes(L, lp);
    lua_settop(L, 2); /* keep subject and pattern alive in the closure */
    gm = lua_newuserdatauv(L, sizeof *gm, 0);
    if (init > ls)
        init = ls + 1; /* avoid overflow in s + init */
    prepstate(&gm->ms, L, s, ls, p, lp);
    gm->src = s + init;
    gm->p = p;
    gm->lastmatch = NULL;
    lua_pushcclosure(L, gmatch_aux, 3);
    return 1;
}

static void add_bytes(mstate_t *ms, luaL_Buffer *b, const char *s, size_t n)
{
    STEP(ms, n);
    luaL_addlstring(b, s, n);
}

/* gsub with a replacement string: %0-%9 and %%. */
static void add_s(mstate_t *ms, luaL_Buffer *b, const char *s, const char *e)
{
    size_t l;
    lua_State *L = ms->L;
    const char *news = lua_tolstring(L, 3, &l);
    const char *p;
    while ((p = memchr(news, L_ESC, l)) != NULL) {
        add_bytes(ms, b, news, (size_t)(p - news));
        p++; /* skip ESC; at the end, *p is the string's NUL */
        if (*p == L_ESC) {
            add_bytes(ms, b, p, 1);
        } else if (*p == '0') {
            add_bytes(ms, b, s, (size_t)(e - s));
        } else if (is_digit((unsigned char)*p)) {
            const char *cap;
            ptrdiff_t resl = get_onecapture(ms, *p - '1', s, e, &cap);
            if (resl == CAP_POSITION) {
                STEP(ms, 1);
                luaL_addvalue(b); /* the position get_onecapture pushed */
            } else {
                add_bytes(ms, b, cap, (size_t)resl);
            }
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", L_ESC);
        }
        l -= (size_t)(p + 1 - news);
        news = p + 1;
    }
    add_bytes(ms, b, news, l);
}

/* Adds the replacement of match s..e; returns whether the subject changed
 * (a function or table answering nil/false keeps the original text). */
static int add_value(mstate_t *ms, luaL_Buffer *b, const char *s, const char *e, int tr)
{
    lua_State *L = ms->L;
    size_t len;
    switch (tr) {
    case LUA_TFUNCTION: {
        int n;
        lua_pushvalue(L, 3);
        n = push_captures(ms, s, e);
        lua_call(L, n, 1);
        break;
    }
    case LUA_TTABLE:
        push_onecapture(ms, 0, s, e);
        lua_gettable(L, 3);
        break;
    default: /* LUA_TNUMBER or LUA_TSTRING */
        add_s(ms, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        add_bytes(ms, b, s, (size_t)(e - s)); /* keep original text */
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    ll_vm_canon_nans(L, -1, -1);
    lua_tolstring(L, -1, &len);
    STEP(ms, len);
    luaL_addvalue(b);
    return 1;
}

static int s_gsub(lua_State *L)
{
    size_t srcl, lp;
    const char *src, *p;
    const char *lastmatch = NULL;
    int tr;
    lua_Integer max_s, n = 0;
    int anchor, changed = 0;
    mstate_t ms;
    luaL_Buffer b;
    ll_vm_canon_nans(L, 1, 3); /* a number replacement is used as its text */
    src = luaL_checklstring(L, 1, &srcl);
    p = luaL_checklstring(L, 2, &lp);
    tr = lua_type(L, 3);
    anchor = (*p == '^');
    ll_vm_charge_strings(L, 4, 4);
    max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1);
    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    ll_vm_charge_bytes(L, lp);
    luaL_buffinit(L, &b);
    if (anchor) {
        p++;
        lp--;
    }
    prepstate(&ms, L, src, srcl, p, lp);
    while (n < max_s) {
        const char *e;
        reprepstate(&ms);
        if ((e = do_match(&ms, src, p)) != NULL && e != lastmatch) { /* match? */
            n++;
            changed = add_value(&ms, &b, src, e, tr) | changed;
            src = lastmatch = e;
        } else if (src < ms.src_end) { /* otherwise, skip one character */
            add_bytes(&ms, &b, src++, 1);
        } else {
            break; /* end of subject */
        }
        if (anchor)
            break;
    }
    if (!changed) {
        lua_pushvalue(L, 1); /* return the original string */
    } else {
        add_bytes(&ms, &b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

const luaL_Reg ll_vm_pattern_lib[] = {
    {"find", s_find}, {"match", s_match}, {"gmatch", s_gmatch}, {"gsub", s_gsub}, {NULL, NULL},
};
