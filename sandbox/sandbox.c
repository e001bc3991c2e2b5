/*
 * sandbox: fresh Lua state per run, allowlisted globals, limits that Lua
 * code cannot escape. See sandbox.h for the contract.
 *
 * How the limits hold:
 * - memory: every allocation goes through sb_alloc, which counts live bytes
 *   (ptr == NULL means "new block": osize is then a type tag, not a size)
 *   and refuses growth past the cap while runbook code runs;
 * - instructions, deadline, Ctrl-C: a count hook every HOOK_EVERY
 *   instructions; after a limit is hit the hook fires on every instruction
 *   and raises again, and pcall/xpcall re-raise, so nothing swallows it;
 * - what the hook cannot see: string.rep checks its result size,
 *   find/match/gmatch/gsub check a worst-case bound (pattern.c),
 *   table.move charges its element count to the instruction budget;
 * - __gc metamethods are refused (finalizers run outside any budget),
 *   string.dump, load, debug, io, os.execute, require are simply absent,
 *   and library tables are read-only proxies whose metatables are locked.
 */
#define _POSIX_C_SOURCE 200809L
#include "sandbox.h"
#include "text.h"
#include "util.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_EVERY 1000
#define JSON_MAX_DEPTH 64

struct sandbox {
	lua_State *L;
	struct sandbox_limits lim;
	struct sandbox_host host;
	size_t mem;
	int enforce;          /* memory cap applies (runbook code is running) */
	int64_t instr;
	int64_t deadline;
	enum sandbox_limit limit;
	char *limit_where;    /* "file:line" where a limit was first hit */
	size_t out_bytes;
	char *fail_msg;       /* fail(msg), or the size cap that was hit */
	int steps_ref;
	size_t json_mem;      /* bytes jansson holds for a json.encode/decode now */
	char **step_ids;      /* the runbook's steps, in order (for "has not run yet") */
	size_t nstep_ids;
	char *current;        /* the step running now */
};

/*
 * jansson allocates outside Lua's allocator: json.decode of a deeply nested
 * text can need ten times its size. While a host function of a sandbox
 * calls jansson, its allocations count against that sandbox's memory cap
 * too (this thread only; plain malloc underneath, so memory jansson hands
 * out is still freed with free()).
 */
static _Thread_local struct sandbox *json_owner;

static void *json_counted_malloc(size_t n)
{
	struct sandbox *sb = json_owner;
	if (sb && sb->enforce && sb->mem + sb->json_mem + n > sb->lim.memory) {
		if (sb->limit == SB_OK)
			sb->limit = SB_LIMIT_MEMORY;
		return NULL;
	}
	void *p = malloc(n);
	if (p && sb)
		sb->json_mem += malloc_usable_size(p);
	return p;
}

static void json_counted_free(void *p)
{
	struct sandbox *sb = json_owner;
	if (p && sb) {
		size_t n = malloc_usable_size(p);
		sb->json_mem -= n < sb->json_mem ? n : sb->json_mem;
	}
	free(p);
}

__attribute__((constructor)) static void json_counting(void)
{
	json_set_alloc_funcs(json_counted_malloc, json_counted_free);
}

void sandbox_default_limits(struct sandbox_limits *lim)
{
	lim->memory = 64u << 20;
	lim->instructions = 50000000;
	lim->output = 1u << 20;
	lim->string = 16u << 20;
	lim->pattern_subject = 1u << 20;
	lim->pattern_work = 1e8;
}

static struct sandbox *get_sb(lua_State *L)
{
	return *(struct sandbox **)lua_getextraspace(L);
}

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct sandbox *sb = ud;
	size_t old = ptr ? osize : 0;
	if (nsize == 0) {
		free(ptr);
		sb->mem -= old;
		return NULL;
	}
	if (sb->enforce && nsize > old && sb->mem - old + nsize > sb->lim.memory) {
		if (sb->limit == SB_OK)
			sb->limit = SB_LIMIT_MEMORY;
		return NULL;
	}
	void *p = realloc(ptr, nsize);
	if (!p)
		return NULL;
	sb->mem = sb->mem - old + nsize;
	return p;
}

static int sb_panic(lua_State *L)
{
	const char *m = lua_tostring(L, -1);
	fprintf(stderr, "runbook: internal Lua error outside a protected call: %s\n", m ? m : "?");
	abort();
	return 0;
}

static const char *limit_message(struct sandbox *sb, char *buf, size_t n)
{
	switch (sb->limit) {
	case SB_LIMIT_INSTRUCTIONS:
		snprintf(buf, n, "instruction limit exceeded (%lld instructions per step)",
			 (long long)sb->lim.instructions);
		break;
	case SB_LIMIT_MEMORY:
		snprintf(buf, n, "memory limit exceeded (%zu MiB per run)", sb->lim.memory >> 20);
		break;
	case SB_LIMIT_TIMEOUT:
		snprintf(buf, n, "step deadline exceeded");
		break;
	case SB_LIMIT_OUTPUT:
		snprintf(buf, n, "output limit exceeded (%zu bytes per step)", sb->lim.output);
		break;
	case SB_LIMIT_SIZE:
		snprintf(buf, n, "%s", sb->fail_msg ? sb->fail_msg : "size limit exceeded");
		break;
	case SB_INTERRUPTED:
		snprintf(buf, n, "interrupted");
		break;
	case SB_FAILED:
		snprintf(buf, n, "%s", sb->fail_msg ? sb->fail_msg : "failed");
		break;
	default:
		snprintf(buf, n, "no limit");
	}
	return buf;
}

/* Raises the current limit as a Lua error. */
static int raise_limit(lua_State *L, struct sandbox *sb)
{
	char buf[512];
	lua_pushstring(L, limit_message(sb, buf, sizeof buf));
	return lua_error(L);
}

static void hit(lua_State *L, struct sandbox *sb, enum sandbox_limit what, lua_Debug *ar)
{
	sb->limit = what;
	if (ar && !sb->limit_where && lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
		sb->limit_where = xasprintf("%s:%d", ar->short_src, ar->currentline);
	/* from now on: every instruction raises again */
	lua_sethook(L, lua_gethook(L), LUA_MASKCOUNT, 1);
}

static void hook(lua_State *L, lua_Debug *ar)
{
	struct sandbox *sb = get_sb(L);
	if (sb->limit == SB_OK) {
		sb->instr += HOOK_EVERY;
		if (sb->instr > sb->lim.instructions)
			hit(L, sb, SB_LIMIT_INSTRUCTIONS, ar);
		else if (sb->host.cancel && *sb->host.cancel)
			hit(L, sb, SB_INTERRUPTED, ar);
		else if (sb->deadline && now_ms() >= sb->deadline)
			hit(L, sb, SB_LIMIT_TIMEOUT, ar);
	}
	if (sb->limit != SB_OK)
		raise_limit(L, sb);
}

/* Charges n units of C-side work to the instruction budget. */
static void charge(lua_State *L, struct sandbox *sb, lua_Integer n)
{
	if (n > 0)
		sb->instr += n;
	if (sb->limit == SB_OK && sb->instr > sb->lim.instructions)
		hit(L, sb, SB_LIMIT_INSTRUCTIONS, NULL);
	if (sb->limit != SB_OK)
		raise_limit(L, sb);
}

/* ---- JSON <-> Lua ---- */

static void push_json(lua_State *L, json_t *v, int depth)
{
	luaL_checkstack(L, 4, "JSON too deep");
	if (depth > 2 * JSON_MAX_DEPTH)
		luaL_error(L, "JSON nested too deeply");
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *x;
		lua_createtable(L, 0, (int)json_object_size(v));
		json_object_foreach(v, k, x) {
			push_json(L, x, depth + 1);
			lua_setfield(L, -2, k);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *x;
		lua_createtable(L, (int)json_array_size(v), 0);
		json_array_foreach(v, i, x) {
			push_json(L, x, depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	}
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	default:
		lua_pushnil(L);
	}
}

/* A JSON string from bytes, replacing invalid UTF-8 with U+FFFD. */
static json_t *json_bytes(const char *s, size_t n)
{
	return text_json(s, n);
}

static int by_bytes(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* o with its keys in byte order (o is consumed): a Lua table has no order
 * of its own, and its hash order changes from run to run - a report, a
 * recording or a timeline event would differ between two runs that saw
 * the same. */
static json_t *sorted_object(json_t *o)
{
	size_t n = json_object_size(o), i = 0;
	if (n < 2)
		return o;
	const char **keys = xcalloc(n, sizeof *keys);
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) keys[i++] = k;
	qsort(keys, n, sizeof *keys, by_bytes);
	json_t *s = json_object();
	for (i = 0; i < n; i++)
		json_object_set(s, keys[i], json_object_get(o, keys[i]));
	free(keys);
	json_decref(o);
	return s;
}

/* Converts the value at idx without calling any metamethod; a table's
 * keys come out sorted. NULL on error (message in *err). */
static json_t *to_json(lua_State *L, int idx, int depth, char **err)
{
	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer((json_int_t)lua_tointeger(L, idx));
		else {
			double d = lua_tonumber(L, idx);
			return isfinite(d) ? json_real(d) : json_null();
		}
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		return json_bytes(s, n);
	}
	case LUA_TTABLE:
		break;
	default:
		return json_string(lua_typename(L, lua_type(L, idx)));
	}
	if (depth > JSON_MAX_DEPTH) {
		*err = xstrdup("value nested too deeply (or a cycle) for JSON");
		return NULL;
	}
	if (!lua_checkstack(L, 4)) {
		*err = xstrdup("value nested too deeply for JSON");
		return NULL;
	}
	lua_Unsigned n = lua_rawlen(L, idx);
	size_t count = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		count++;
		lua_pop(L, 1);
	}
	if (n > 0 && count == n) {
		json_t *a = json_array();
		for (lua_Unsigned i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i);
			json_t *x = to_json(L, -1, depth + 1, err);
			lua_pop(L, 1);
			if (!x) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, x);
		}
		return a;
	}
	json_t *o = json_object();
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		char kbuf[64];
		const char *k;
		if (lua_type(L, -2) == LUA_TSTRING)
			k = lua_tostring(L, -2);
		else if (lua_type(L, -2) == LUA_TNUMBER) {
			if (lua_isinteger(L, -2))
				snprintf(kbuf, sizeof kbuf, "%lld", (long long)lua_tointeger(L, -2));
			else
				snprintf(kbuf, sizeof kbuf, "%.14g", lua_tonumber(L, -2));
			k = kbuf;
		} else {
			snprintf(kbuf, sizeof kbuf, "<%s>", lua_typename(L, lua_type(L, -2)));
			k = kbuf;
		}
		json_t *x = to_json(L, -1, depth + 1, err);
		if (!x) {
			lua_pop(L, 2);
			json_decref(o);
			return NULL;
		}
		json_t *ks = json_bytes(k, strlen(k));
		json_object_set_new(o, json_string_value(ks), x);
		json_decref(ks);
		lua_pop(L, 1);
	}
	return sorted_object(o);
}

/* ---- the Lua API offered to runbooks ---- */

static int count_output(lua_State *L, struct sandbox *sb, size_t n)
{
	sb->out_bytes += n;
	if (sb->out_bytes > sb->lim.output && sb->limit == SB_OK) {
		hit(L, sb, SB_LIMIT_OUTPUT, NULL);
		return raise_limit(L, sb);
	}
	return 0;
}

static int l_finding(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	const char *level = luaL_checkstring(L, 1);
	size_t n;
	const char *msg = luaL_checklstring(L, 2, &n);
	if (strcmp(level, "info") && strcmp(level, "warning") && strcmp(level, "critical"))
		return luaL_error(L, "finding: level must be info, warning or critical, not '%s'", level);
	count_output(L, sb, n);
	if (sb->host.finding)
		sb->host.finding(sb->host.ud, level, msg);
	return 0;
}

static int l_log(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	size_t n;
	const char *msg = luaL_checklstring(L, 1, &n);
	count_output(L, sb, n);
	if (sb->host.log)
		sb->host.log(sb->host.ud, msg);
	return 0;
}

static int l_fail(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	size_t n;
	const char *msg = luaL_optlstring(L, 1, "failed", &n);
	if (n > 4096)
		n = 4096;
	free(sb->fail_msg);
	sb->fail_msg = xstrndup(msg, n);
	if (sb->limit == SB_OK)
		sb->limit = SB_FAILED;
	return raise_limit(L, sb);
}

static int call_action(lua_State *L, const char *action)
{
	struct sandbox *sb = get_sb(L);
	const char *target = luaL_checkstring(L, 1);
	const char *text = luaL_checkstring(L, 2);
	json_t *args = json_array();
	for (int i = 3; i <= lua_gettop(L); i++) {
		if (lua_isnil(L, i)) {
			json_array_append_new(args, json_null());
			continue;
		}
		size_t n;
		const char *s = luaL_tolstring(L, i, &n);
		json_array_append_new(args, json_bytes(s, n));
		lua_pop(L, 1);
	}
	if (!sb->host.action) {
		json_decref(args);
		return luaL_error(L, "%s() is not available here", action);
	}
	json_t *res = NULL;
	char *err = NULL;
	int rc = sb->host.action(sb->host.ud, action, target, text, args, &res, &err);
	json_decref(args);
	if (sb->host.cancel && *sb->host.cancel && sb->limit == SB_OK)
		hit(L, sb, SB_INTERRUPTED, NULL);
	if (sb->limit != SB_OK) {
		json_decref(res);
		free(err);
		return raise_limit(L, sb);
	}
	if (rc) {
		lua_pushfstring(L, "%s(%s): %s", action, target, err ? err : "failed");
		free(err);
		json_decref(res);
		return lua_error(L);
	}
	push_json(L, res, 0);
	json_decref(res);
	return 1;
}

static int l_sql(lua_State *L)
{
	return call_action(L, "sql");
}

static int l_ssh(lua_State *L)
{
	return call_action(L, "ssh");
}

/* The memory cap as jansson hit it, raised like any limit. */
static int json_end(lua_State *L, struct sandbox *sb)
{
	json_owner = NULL;
	sb->json_mem = 0;
	if (sb->limit != SB_OK)
		return raise_limit(L, sb);
	return 0;
}

static int l_json_encode(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	luaL_checkany(L, 1);
	char *err = NULL;
	json_owner = sb;
	json_t *j = to_json(L, 1, 0, &err);
	if (!j) {
		lua_pushfstring(L, "json.encode: %s", err ? err : "out of memory");
		free(err);
		json_end(L, sb);
		return lua_error(L);
	}
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	json_decref(j);
	json_end(L, sb);
	lua_pushstring(L, s ? s : "null");
	free(s);
	return 1;
}

static int push_decoded(lua_State *L)
{
	push_json(L, lua_touserdata(L, 1), 0);
	return 1;
}

static int l_json_decode(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	json_error_t e;
	json_owner = sb;
	json_t *j = json_loadb(s, n, JSON_DECODE_ANY, &e);
	if (!j) {
		json_end(L, sb);
		return luaL_error(L, "json.decode: %s at line %d column %d", e.text, e.line, e.column);
	}
	json_owner = NULL; /* pushing into Lua counts through Lua's allocator */
	sb->json_mem = 0;
	lua_pushcfunction(L, push_decoded);
	lua_pushlightuserdata(L, j);
	int st = lua_pcall(L, 1, 1, 0);
	json_decref(j); /* on every path: an error while pushing must not leak it */
	if (st != LUA_OK)
		return lua_error(L);
	return 1;
}

/* Calls the function in upvalue 1 with this call's arguments: how every
 * guard hands over to the original it wraps. */
static int call_original(lua_State *L, int nresults)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, nresults);
	return lua_gettop(L);
}

/* pcall that cannot swallow a limit. */
static int l_pcall(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	luaL_checkany(L, 1);
	int st = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
	if (sb->limit != SB_OK)
		return raise_limit(L, sb);
	lua_pushboolean(L, st == LUA_OK);
	lua_insert(L, 1);
	return lua_gettop(L);
}

/*
 * The message handler xpcall really installs. A limit error is raised from
 * inside the count hook, where Lua runs message handlers with hooks off: a
 * runbook's handler must not run then, or it could loop unbudgeted.
 */
static int msgh_guard(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	if (sb->limit != SB_OK)
		return 1; /* the error value as it is */
	return call_original(L, 1);
}

static int l_xpcall(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	int nargs = lua_gettop(L) - 2;
	lua_pushvalue(L, 2); /* f, msgh, args..., msgh */
	lua_remove(L, 2);
	lua_pushcclosure(L, msgh_guard, 1);
	lua_insert(L, 1);    /* guard(msgh), f, args... */
	int st = lua_pcall(L, nargs, LUA_MULTRET, 1);
	if (sb->limit != SB_OK)
		return raise_limit(L, sb);
	lua_pushboolean(L, st == LUA_OK);
	lua_replace(L, 1);
	return lua_gettop(L);
}

static int l_setmetatable(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	int t = lua_type(L, 2);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	if (t == LUA_TTABLE) {
		if (lua_getfield(L, 2, "__gc") != LUA_TNIL)
			return luaL_error(L, "__gc metamethods are not allowed in the sandbox");
		lua_pop(L, 1);
	}
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

static int l_getmetatable(lua_State *L)
{
	if (lua_type(L, 1) != LUA_TTABLE) {
		lua_pushnil(L); /* only a runbook's own tables */
		return 1;
	}
	if (!lua_getmetatable(L, 1)) {
		lua_pushnil(L);
		return 1;
	}
	luaL_getmetafield(L, 1, "__metatable");
	return 1;
}

static int l_collectgarbage(lua_State *L)
{
	const char *opt = luaL_optstring(L, 1, "collect");
	if (strcmp(opt, "count"))
		return luaL_error(L, "collectgarbage: only \"count\" is allowed in the sandbox");
	int k = lua_gc(L, LUA_GCCOUNT, 0);
	int b = lua_gc(L, LUA_GCCOUNTB, 0);
	lua_pushnumber(L, (lua_Number)k + ((lua_Number)b / 1024));
	return 1;
}

/* A size cap was hit: like every limit, it ends the step (pcall cannot
 * swallow it). Takes msg. */
static int size_limit(lua_State *L, struct sandbox *sb, char *msg)
{
	if (sb->limit == SB_OK) {
		free(sb->fail_msg);
		sb->fail_msg = msg;
		lua_Debug ar;
		hit(L, sb, SB_LIMIT_SIZE, lua_getstack(L, 1, &ar) ? &ar : NULL);
	} else {
		free(msg);
	}
	return raise_limit(L, sb);
}

static int l_rep(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	size_t l, lsep;
	luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n > 0) {
		double total = (double)l * (double)n + (double)lsep * (double)(n - 1);
		if (total > (double)sb->lim.string)
			return size_limit(L, sb, xasprintf("string.rep: result of %.0f bytes exceeds the string limit "
							   "(%zu bytes)", total, sb->lim.string));
	}
	return call_original(L, LUA_MULTRET);
}

/* find/match/gmatch/gsub: bound the matcher's work before calling it. */
static int l_pattern_guard(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *name = lua_tostring(L, lua_upvalueindex(2));
	int plain = !strcmp(name, "find") && lua_toboolean(L, 4);
	if (!plain) {
		if (ls > sb->lim.pattern_subject)
			return size_limit(L, sb, xasprintf("string.%s: subject of %zu bytes exceeds the pattern subject "
							   "limit (%zu bytes)", name, ls, sb->lim.pattern_subject));
		double work = pattern_worst_case(s, ls, p, lp, 1);
		if (work > sb->lim.pattern_work)
			return size_limit(L, sb, xasprintf("string.%s: pattern '%.40s' could take %.3g matcher steps on "
							   "this subject (pattern work limit %.3g); simplify the pattern or "
							   "use plain find", name, p, work, sb->lim.pattern_work));
		charge(L, sb, (lua_Integer)(work / 1000));
	}
	return call_original(L, LUA_MULTRET);
}

static int l_table_move(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
	if (e >= f)
		charge(L, sb, (e - f) > LUA_MAXINTEGER / 2 ? LUA_MAXINTEGER / 2 : e - f + 1);
	return call_original(L, LUA_MULTRET);
}

static int l_readonly(lua_State *L)
{
	return luaL_error(L, "attempt to modify a read-only table (field '%s')", luaL_optstring(L, 2, "?"));
}

static int l_env_index(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	const char *k = luaL_checkstring(L, 2);
	const char *v = getenv(k);
	if (!v) {
		lua_pushnil(L);
		return 1;
	}
	if (sb->host.secret)
		sb->host.secret(sb->host.ud, v);
	lua_pushstring(L, v);
	return 1;
}

/* Replaces field `name` of the table at -1 with a guard closure over the
 * original function. */
static void wrap(lua_State *L, const char *name, lua_CFunction guard, int with_name)
{
	lua_getfield(L, -1, name);
	if (with_name)
		lua_pushstring(L, name);
	lua_pushcclosure(L, guard, with_name ? 2 : 1);
	lua_setfield(L, -2, name);
}

/* Pushes a read-only proxy for the table at -1 (which it pops). */
static void push_proxy(lua_State *L)
{
	lua_newtable(L);               /* real, proxy */
	lua_createtable(L, 0, 3);      /* real, proxy, mt */
	lua_rotate(L, -3, -1);         /* proxy, mt, real */
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_readonly);
	lua_setfield(L, -2, "__newindex");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
}

static void copy_fields(lua_State *L, int from, int to, const char *const *names)
{
	for (; *names; names++) {
		lua_getfield(L, from, *names);
		lua_setfield(L, to, *names);
	}
}

/* steps.X for a step without a result: a later step, or the one running. */
static int l_steps_index(lua_State *L)
{
	struct sandbox *sb = get_sb(L);
	const char *k = lua_tostring(L, 2);
	long at = -1, cur = -1;
	for (size_t i = 0; k && i < sb->nstep_ids; i++) {
		if (!strcmp(sb->step_ids[i], k))
			at = (long)i;
		if (sb->current && !strcmp(sb->step_ids[i], sb->current))
			cur = (long)i;
	}
	if (at < 0)
		return 0; /* not a step of this runbook: nil */
	if (at == cur)
		return luaL_error(L, "step '%s' is the one running: its result does not exist yet", k);
	if (cur >= 0)
		return luaL_error(L, "step '%s' has not run yet (it comes after '%s')", k, sb->current);
	return luaL_error(L, "step '%s' has not run yet", k);
}

static int setup(lua_State *L)
{
	static const char *const base[] = {"assert", "error", "ipairs", "next", "pairs", "select",
		"tonumber", "tostring", "type", "rawequal", "rawlen", "_VERSION", NULL};
	static const char *const osok[] = {"time", "date", "clock", NULL};

	luaL_requiref(L, "_G", luaopen_base, 0);
	int oldg = lua_gettop(L);
	lua_newtable(L);
	int g = lua_gettop(L);
	copy_fields(L, oldg, g, base);
	static const luaL_Reg fns[] = {
		{"pcall", l_pcall}, {"xpcall", l_xpcall}, {"setmetatable", l_setmetatable},
		{"getmetatable", l_getmetatable}, {"collectgarbage", l_collectgarbage},
		{"finding", l_finding}, {"log", l_log}, {"fail", l_fail}, {"sql", l_sql}, {"ssh", l_ssh},
		{NULL, NULL}};
	lua_pushvalue(L, g);
	luaL_setfuncs(L, fns, 0);
	lua_pop(L, 1);

	/* string: no dump, guarded rep and pattern functions, locked metatable */
	luaL_requiref(L, "string", luaopen_string, 0);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	wrap(L, "rep", l_rep, 0);
	static const char *const pat[] = {"find", "match", "gmatch", "gsub", NULL};
	for (const char *const *p = pat; *p; p++)
		wrap(L, *p, l_pattern_guard, 1);
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 2);
	push_proxy(L);
	lua_setfield(L, g, "string");

	luaL_requiref(L, "table", luaopen_table, 0);
	wrap(L, "move", l_table_move, 0);
	push_proxy(L);
	lua_setfield(L, g, "table");

	luaL_requiref(L, "math", luaopen_math, 0);
	push_proxy(L);
	lua_setfield(L, g, "math");

	luaL_requiref(L, "utf8", luaopen_utf8, 0);
	push_proxy(L);
	lua_setfield(L, g, "utf8");

	luaL_requiref(L, "os", luaopen_os, 0);
	int os = lua_gettop(L);
	lua_newtable(L);
	copy_fields(L, os, lua_gettop(L), osok);
	push_proxy(L);
	lua_setfield(L, g, "os");
	lua_pop(L, 1);

	static const luaL_Reg jsonfns[] = {{"encode", l_json_encode}, {"decode", l_json_decode}, {NULL, NULL}};
	luaL_newlib(L, jsonfns);
	push_proxy(L);
	lua_setfield(L, g, "json");

	/* the steps table the engine fills; reading a step that has not run
	 * says so instead of handing out nil */
	lua_newtable(L);
	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, l_steps_index);
	lua_setfield(L, -2, "__index");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setfield(L, g, "steps");
	get_sb(L)->steps_ref = luaL_ref(L, LUA_REGISTRYINDEX);

	/* the sandbox globals replace the full ones for every chunk loaded */
	lua_pushvalue(L, g);
	lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	/* forget the full globals and every loaded library */
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_settop(L, 0);
	return 0;
}

struct sandbox *sandbox_new(const struct sandbox_limits *lim, const struct sandbox_host *host, char **err)
{
	struct sandbox *sb = xcalloc(1, sizeof *sb);
	if (lim)
		sb->lim = *lim;
	else
		sandbox_default_limits(&sb->lim);
	if (host)
		sb->host = *host;
	sb->L = lua_newstate(sb_alloc, sb);
	if (!sb->L) {
		free(sb);
		*err = xstrdup("cannot create a Lua state");
		return NULL;
	}
	*(struct sandbox **)lua_getextraspace(sb->L) = sb;
	lua_atpanic(sb->L, sb_panic);
	lua_pushcfunction(sb->L, setup);
	if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK) {
		*err = xasprintf("cannot set up the Lua sandbox: %s", lua_tostring(sb->L, -1));
		sandbox_free(sb);
		return NULL;
	}
	return sb;
}

void sandbox_set_step_order(struct sandbox *sb, const char *const *ids, size_t n)
{
	for (size_t i = 0; i < sb->nstep_ids; i++)
		free(sb->step_ids[i]);
	free(sb->step_ids);
	sb->step_ids = xcalloc(n ? n : 1, sizeof *sb->step_ids);
	for (size_t i = 0; i < n; i++)
		sb->step_ids[i] = xstrdup(ids[i]);
	sb->nstep_ids = n;
}

void sandbox_set_current_step(struct sandbox *sb, const char *id)
{
	free(sb->current);
	sb->current = id ? xstrdup(id) : NULL;
}

void sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	sandbox_set_step_order(sb, NULL, 0);
	free(sb->step_ids);
	free(sb->current);
	lua_close(sb->L);
	free(sb->fail_msg);
	free(sb->limit_where);
	free(sb);
}

size_t sandbox_memory(const struct sandbox *sb)
{
	return sb->mem;
}

struct set_args {
	const char *name;
	json_t *v;
	int step;
};

static int set_value(lua_State *L)
{
	struct set_args *a = lua_touserdata(L, 1);
	struct sandbox *sb = get_sb(L);
	if (a->step) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, sb->steps_ref);
		push_json(L, a->v, 0);
		lua_setfield(L, -2, a->name);
	} else {
		lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
		push_json(L, a->v, 0);
		lua_setfield(L, -2, a->name);
	}
	return 0;
}

static void set_protected(struct sandbox *sb, const char *name, json_t *v, int step)
{
	struct set_args a = {name, v, step};
	lua_pushcfunction(sb->L, set_value);
	lua_pushlightuserdata(sb->L, &a);
	if (lua_pcall(sb->L, 1, 0, 0) != LUA_OK)
		lua_pop(sb->L, 1); /* only an allocation failure gets here */
}

void sandbox_set_global(struct sandbox *sb, const char *name, json_t *v)
{
	set_protected(sb, name, v, 0);
}

void sandbox_set_step(struct sandbox *sb, const char *id, json_t *v)
{
	set_protected(sb, id, v, 1);
}

static int expose_env(lua_State *L)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	lua_newtable(L);
	lua_createtable(L, 0, 3);
	lua_pushcfunction(L, l_env_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_readonly);
	lua_setfield(L, -2, "__newindex");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_setfield(L, -2, "env");
	return 0;
}

void sandbox_expose_env(struct sandbox *sb)
{
	lua_pushcfunction(sb->L, expose_env);
	if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK)
		lua_pop(sb->L, 1);
}

/* Source text whose line numbers are the YAML's: `line - 1` newlines first. */
static char *shifted_source(const char *code, int is_expr, int line, size_t *len)
{
	struct sbuf s;
	sbuf_init(&s);
	for (int i = 1; i < line && i < 1000000; i++)
		sbuf_addc(&s, '\n');
	if (is_expr) {
		sbuf_adds(&s, "return (");
		sbuf_adds(&s, code);
		sbuf_adds(&s, "\n)");
	} else {
		sbuf_adds(&s, code);
	}
	*len = s.len;
	return sbuf_detach(&s);
}

static char *error_text(lua_State *L, int idx)
{
	size_t n;
	const char *s;
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
	case LUA_TNUMBER:
		s = lua_tolstring(L, idx, &n);
		return xstrndup(s, n > 4096 ? 4096 : n);
	case LUA_TNIL:
		return xstrdup("error (nil error value)");
	default:
		return xasprintf("error (a %s error value)", lua_typename(L, lua_type(L, idx)));
	}
}

int sandbox_compile(const char *code, int is_expr, const char *file, int line, char **err, int *errline)
{
	lua_State *L = luaL_newstate();
	if (!L) {
		*err = xstrdup("cannot create a Lua state");
		*errline = line;
		return -1;
	}
	size_t len;
	char *src = shifted_source(code, is_expr, line, &len);
	char *chunkname = xasprintf("=%s", file);
	int rc = 0;
	if (luaL_loadbufferx(L, src, len, chunkname, "t") != LUA_OK) {
		const char *m = lua_tostring(L, -1);
		int last = line; /* an error past the code's end ("near <eof>") is at its end */
		for (const char *c = code; *c; c++)
			last += *c == '\n' && c[1];
		/* "file:LINE: message" -> LINE and message */
		size_t fl = strlen(file);
		*errline = line;
		if (m && !strncmp(m, file, fl) && m[fl] == ':') {
			char *end;
			long l = strtol(m + fl + 1, &end, 10);
			if (*end == ':') {
				*errline = l > last ? last : (int)l;
				m = end + 2;
			}
		}
		*err = xstrdup(m ? m : "syntax error");
		rc = -1;
	}
	free(src);
	free(chunkname);
	lua_close(L);
	return rc;
}

enum sandbox_limit sandbox_run(struct sandbox *sb, const char *code, int is_expr, const char *file,
			       int line, int64_t deadline_ms, json_t **out, char **err)
{
	lua_State *L = sb->L;
	*out = NULL;
	*err = NULL;
	size_t len;
	char *src = shifted_source(code, is_expr, line, &len);
	char *chunkname = xasprintf("=%s", file);
	sb->limit = SB_OK;
	free(sb->limit_where);
	sb->limit_where = NULL;
	free(sb->fail_msg);
	sb->fail_msg = NULL;
	sb->instr = 0;
	sb->out_bytes = 0;
	sb->deadline = deadline_ms;
	sb->enforce = 1;
	int st = luaL_loadbufferx(L, src, len, chunkname, "t");
	free(src);
	free(chunkname);
	if (st == LUA_OK) {
		lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_EVERY);
		st = lua_pcall(L, 0, 1, 0);
		lua_sethook(L, NULL, 0, 0);
		json_owner = NULL; /* an error inside a json host function skipped its own reset */
		sb->json_mem = 0;
	}
	enum sandbox_limit result = sb->limit;
	if (result == SB_OK && st == LUA_ERRMEM)
		result = sb->limit = SB_LIMIT_MEMORY;
	if (result != SB_OK) {
		char buf[512];
		limit_message(sb, buf, sizeof buf);
		if (sb->limit_where && result != SB_FAILED)
			*err = xasprintf("%s: %s", sb->limit_where, buf);
		else
			*err = xstrdup(buf);
	} else if (st != LUA_OK) {
		*err = error_text(L, -1);
		result = SB_FAILED;
	} else {
		char *cerr = NULL;
		*out = to_json(L, -1, 0, &cerr);
		if (!*out) {
			*err = xasprintf("%s:%d: cannot convert the returned value: %s", file, line, cerr);
			free(cerr);
			result = SB_FAILED;
		}
	}
	lua_settop(L, 0);
	sb->enforce = 0;
	if (result == SB_LIMIT_MEMORY)
		lua_gc(L, LUA_GCCOLLECT);
	sb->limit = SB_OK;
	return result;
}
