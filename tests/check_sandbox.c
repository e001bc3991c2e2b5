/*
 * Sandbox tests: the allowlist, and an adversarial suite - every known way
 * out must end in a clear error naming the limit, with the sandbox still
 * usable afterwards.
 */
#include "tests.h"
#include "util.h"
#include "sandbox.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static struct sandbox *sb;

static void setup(void)
{
	char *err = NULL;
	sb = sandbox_new(NULL, NULL, &err);
	ck_assert_msg(sb != NULL, "sandbox_new: %s", err);
}

static void teardown(void)
{
	sandbox_free(sb);
}

/* Runs code; returns its limit kind, *msg set to the error (caller frees). */
static enum sandbox_limit run(const char *code, json_t **out, char **msg)
{
	json_t *v = NULL;
	char *e = NULL;
	enum sandbox_limit st = sandbox_run(sb, code, 0, "t.yaml", 1, 0, &v, &e); /* no deadline: deterministic */
	if (out)
		*out = v;
	else
		json_decref(v);
	if (msg)
		*msg = e;
	else
		free(e);
	return st;
}

/* The sandbox must still work after whatever came before. */
static void assert_healthy(void)
{
	json_t *v;
	ck_assert_int_eq(run("return 1 + 1", &v, NULL), SB_OK);
	ck_assert_int_eq(json_integer_value(v), 2);
	json_decref(v);
}

#define EXPECT_LIMIT(code, kind, text)                                                       \
	do {                                                                                 \
		char *m_ = NULL;                                                             \
		enum sandbox_limit st_ = run(code, NULL, &m_);                               \
		ck_assert_msg(st_ == (kind), "%s: got %d (%s)", code, st_, m_ ? m_ : "");   \
		ck_assert_msg(m_ && strstr(m_, text), "%s: message '%s' lacks '%s'", code, m_ ? m_ : "", text); \
		free(m_);                                                                    \
		assert_healthy();                                                            \
	} while (0)

/* A table's keys come out in byte order, whatever Lua's hash order (which
 * changes between states): two runs that saw the same report the same. */
START_TEST(tables_come_out_sorted)
{
	const char *code = "local t = {} for _, k in ipairs({'zeta', 'alpha', 'mid', 'b2', 'b10'}) do t[k] = #k end "
			   "t.nested = {y = 1, b = {z = true, a = false}} return t";
	const char *want = "{\"alpha\": 5, \"b10\": 3, \"b2\": 2, \"mid\": 3, \"nested\": {\"b\": {\"a\": false, \"z\": true}, "
			   "\"y\": 1}, \"zeta\": 4}";
	for (int i = 0; i < 5; i++) { /* a new state each time: a new hash seed */
		sandbox_free(sb);
		char *err = NULL;
		sb = sandbox_new(NULL, NULL, &err);
		json_t *v = NULL;
		ck_assert_int_eq(run(code, &v, NULL), SB_OK);
		char *got = json_dumps(v, 0); /* in insertion order, as reports print */
		ck_assert_str_eq(got, want);
		free(got);
		json_decref(v);
		ck_assert_int_eq(run("return json.encode({b = 1, a = {d = 1, c = 2}})", &v, NULL), SB_OK);
		ck_assert_str_eq(json_string_value(v), "{\"a\":{\"c\":2,\"d\":1},\"b\":1}");
		json_decref(v);
	}
}
END_TEST

START_TEST(globals_are_allowlisted)
{
	const char *absent[] = {"io", "debug", "require", "package", "load", "loadstring", "dofile", "loadfile",
		"rawset", "coroutine", "print", "string.dump", "os.execute", "os.getenv", "os.remove",
		"os.exit", "os.rename", "os.tmpname", "_ENV.io"};
	for (size_t i = 0; i < ARRAY_LEN(absent); i++) {
		char *code = xasprintf("return %s == nil", absent[i]);
		json_t *v;
		ck_assert_int_eq(run(code, &v, NULL), SB_OK);
		ck_assert_msg(json_is_true(v), "%s is reachable", absent[i]);
		json_decref(v);
		free(code);
	}
	const char *present[] = {"string.format", "table.concat", "math.floor", "utf8.char", "os.time", "os.date",
		"os.clock", "pairs", "ipairs", "select", "type", "tostring", "tonumber", "pcall", "error",
		"assert", "setmetatable", "getmetatable", "json.encode", "json.decode", "finding", "log", "fail",
		"sql", "ssh"};
	for (size_t i = 0; i < ARRAY_LEN(present); i++) {
		char *code = xasprintf("return %s ~= nil", present[i]);
		json_t *v;
		ck_assert_int_eq(run(code, &v, NULL), SB_OK);
		ck_assert_msg(json_is_true(v), "%s is missing", present[i]);
		json_decref(v);
		free(code);
	}
}
END_TEST

START_TEST(instruction_budget_cannot_be_swallowed)
{
	EXPECT_LIMIT("while true do end", SB_LIMIT_INSTRUCTIONS, "instruction limit exceeded");
	EXPECT_LIMIT("while true do pcall(function() while true do end end) end", SB_LIMIT_INSTRUCTIONS,
		     "instruction limit");
	EXPECT_LIMIT("while true do xpcall(function() while true do end end, function(e) while true do end end) end",
		     SB_LIMIT_INSTRUCTIONS, "instruction limit");
	EXPECT_LIMIT("local ok = pcall(function() while true do end end) return 'escaped'", SB_LIMIT_INSTRUCTIONS,
		     "instruction limit");
	EXPECT_LIMIT("local t = setmetatable({}, {__index = function(t, k) while true do end end}) return t.x",
		     SB_LIMIT_INSTRUCTIONS, "instruction limit");
	EXPECT_LIMIT("do local x <close> = setmetatable({}, {__close = function() while true do end end}) error('e') end",
		     SB_LIMIT_INSTRUCTIONS, "instruction limit");
	EXPECT_LIMIT("local s = string.rep('a', 1000) return s:gsub('a', function() while true do end end)",
		     SB_LIMIT_INSTRUCTIONS, "instruction limit");
	EXPECT_LIMIT("table.sort({3,2,1,5,4}, function(a, b) while true do end end)", SB_LIMIT_INSTRUCTIONS,
		     "instruction limit");
	EXPECT_LIMIT("return table.move({}, 1, math.maxinteger, 2)", SB_LIMIT_INSTRUCTIONS, "instruction limit");
}
END_TEST

START_TEST(memory_cap)
{
	EXPECT_LIMIT("local t = {} for i = 1, 1e9 do t[i] = {i} end", SB_LIMIT_MEMORY, "memory limit exceeded");
	EXPECT_LIMIT("local ok = pcall(function() local t = {} for i = 1, 1e9 do t[i] = tostring(i) .. 'xxxxxxxx' end end) "
		     "return ok",
		     SB_LIMIT_MEMORY, "memory limit");
	EXPECT_LIMIT("local s = string.rep('x', 1e7) local t = {} for i = 1, 20 do t[i] = s .. i end", SB_LIMIT_MEMORY,
		     "memory limit");
	ck_assert_uint_lt(sandbox_memory(sb), 64u << 20);
}
END_TEST

/* Host functions count too: json.decode of a nested text needs many times
 * its size in jansson's memory, which is not Lua's. */
START_TEST(memory_cap_host_functions)
{
	EXPECT_LIMIT("local s = string.rep('[', 2000) .. string.rep(']', 2000) "
		     "local ok = pcall(json.decode, '[' .. string.rep(s .. ',', 3500) .. '1]') return 'swallowed'",
		     SB_LIMIT_MEMORY, "memory limit");
	EXPECT_LIMIT("local t = {} for i = 1, 3e5 do t[i] = {i, 'x'} end local ok = pcall(json.encode, t) "
		     "return 'swallowed'", SB_LIMIT_MEMORY, "memory limit");
	/* and ordinary JSON still works after it */
	json_t *v;
	ck_assert_int_eq(run("return json.decode(json.encode({a = {1, 2, 3}})).a[3]", &v, NULL), SB_OK);
	ck_assert_int_eq(json_integer_value(v), 3);
	json_decref(v);
}
END_TEST

START_TEST(caps_the_hook_cannot_see)
{
	EXPECT_LIMIT("return string.rep('x', 1e10)", SB_LIMIT_SIZE, "exceeds the string limit");
	EXPECT_LIMIT("return ('ab'):rep(1e9, ',')", SB_LIMIT_SIZE, "exceeds the string limit");
	EXPECT_LIMIT("return string.rep('a', 100000):find('a-a-a-a-b')", SB_LIMIT_SIZE, "pattern work limit");
	EXPECT_LIMIT("return string.rep('a', 200000):match('.-.-.-x')", SB_LIMIT_SIZE, "pattern work limit");
	EXPECT_LIMIT("return string.rep(' ', 2e6):gsub('%s', '')", SB_LIMIT_SIZE, "pattern subject limit");
	/* the size caps end the step like the others: pcall cannot swallow them */
	EXPECT_LIMIT("local ok = pcall(string.rep, 'x', 1e10) return 'swallowed'", SB_LIMIT_SIZE, "string limit");
	EXPECT_LIMIT("local ok = pcall(string.find, string.rep('a', 5000), string.rep('a?', 60) .. string.rep('a', 60)) "
		     "return 'swallowed'", SB_LIMIT_SIZE, "pattern work limit");
	EXPECT_LIMIT("local ok = xpcall(function() return ('x'):rep(1e10) end, function(e) return e end) return 'swallowed'",
		     SB_LIMIT_SIZE, "string limit");
	EXPECT_LIMIT("for i = 1, 1e6 do log(string.rep('x', 1000)) end", SB_LIMIT_OUTPUT, "output limit exceeded");
	/* ordinary patterns over ordinary output are fine */
	json_t *v;
	ck_assert_int_eq(run("local n = 0 for a, b in ('10 foo\\n'):rep(10000):gmatch('(%d+)%s+(%w+)') do n = n + 1 end "
			     "return n",
			     &v, NULL),
			 SB_OK);
	ck_assert_int_eq(json_integer_value(v), 10000);
	json_decref(v);
	ck_assert_int_eq(run("return (' padded '):match('^%s*(.-)%s*$')", &v, NULL), SB_OK);
	ck_assert_str_eq(json_string_value(v), "padded");
	json_decref(v);
	ck_assert_int_eq(run("return string.rep('a', 1e6):find('aab', 1, true)", &v, NULL), SB_OK);
	ck_assert(json_is_null(v));
	json_decref(v);
}
END_TEST

START_TEST(no_way_out)
{
	/* bytecode, string.dump, the string metatable, __gc, collectgarbage */
	EXPECT_LIMIT("return load('return 1')", SB_FAILED, "attempt to call a nil value");
	EXPECT_LIMIT("return string.dump(function() end)", SB_FAILED, "attempt to call a nil value");
	EXPECT_LIMIT("return getmetatable('').__index", SB_FAILED, "attempt to index a nil value");
	EXPECT_LIMIT("string.upper = nil", SB_FAILED, "read-only");
	EXPECT_LIMIT("setmetatable(string, {})", SB_FAILED, "protected metatable");
	EXPECT_LIMIT("setmetatable({}, {__gc = function() while true do end end})", SB_FAILED, "__gc");
	EXPECT_LIMIT("collectgarbage('stop')", SB_FAILED, "only \"count\"");
	EXPECT_LIMIT("collectgarbage()", SB_FAILED, "only \"count\"");
	EXPECT_LIMIT("env.PATH = 'x'", SB_FAILED, "attempt to index a nil value"); /* no env unless exposed */
	EXPECT_LIMIT("local function f(n) return f(n + 1) + 1 end return f(1)", SB_FAILED, "stack overflow");
	EXPECT_LIMIT("local function f(s) return f(s .. 'xxxxxxxxxxxxxxxx') .. s end return f('')", SB_LIMIT_MEMORY,
		     "memory limit");
	EXPECT_LIMIT("pcall(fail, 'stop here') return 'swallowed'", SB_FAILED, "stop here");
	EXPECT_LIMIT("error(setmetatable({}, {__tostring = function() while true do end end}))", SB_FAILED,
		     "table error value");
	EXPECT_LIMIT("return json.decode('{\"a\":')", SB_FAILED, "json.decode");
	json_t *v;
	ck_assert_int_eq(run("return collectgarbage('count') > 0", &v, NULL), SB_OK);
	ck_assert(json_is_true(v));
	json_decref(v);
	/* a runbook's own metatables work */
	ck_assert_int_eq(run("local t = setmetatable({}, {__index = function() return 7 end}) return t.x", &v, NULL), SB_OK);
	ck_assert_int_eq(json_integer_value(v), 7);
	json_decref(v);
}
END_TEST

START_TEST(deadline_and_interrupt)
{
	char *m = NULL;
	json_t *v = NULL;
	struct sandbox_limits lim;
	sandbox_default_limits(&lim);
	lim.instructions = (int64_t)1 << 40;
	char *err = NULL;
	volatile int cancel = 0;
	struct sandbox_host host = {.cancel = &cancel};
	struct sandbox *big = sandbox_new(&lim, &host, &err);
	int64_t t0 = now_ms();
	enum sandbox_limit st = sandbox_run(big, "while true do end", 0, "t.yaml", 3, now_ms() + 200, &v, &m);
	ck_assert_int_eq(st, SB_LIMIT_TIMEOUT);
	ck_assert_ptr_nonnull(strstr(m, "t.yaml:3: step deadline exceeded"));
	ck_assert_int_lt(now_ms() - t0, 5000); /* bounded, not a performance claim */
	free(m);
	cancel = SIGTERM; /* the run's own flag, not the process's */
	st = sandbox_run(big, "while true do end", 0, "t.yaml", 1, 0, &v, &m);
	ck_assert_int_eq(interrupted, 0);
	ck_assert_int_eq(st, SB_INTERRUPTED);
	free(m);
	sandbox_free(big);
}
END_TEST

START_TEST(errors_point_at_yaml_lines)
{
	json_t *v;
	char *m;
	ck_assert_int_eq(sandbox_run(sb, "local x = nil\nreturn x.field", 0, "db.yaml", 40, 0, &v, &m), SB_FAILED);
	ck_assert_ptr_nonnull(strstr(m, "db.yaml:41:"));
	free(m);
	char *e;
	int line;
	ck_assert_int_eq(sandbox_compile("local a = 1\nlocal = 2", 0, "db.yaml", 10, &e, &line), -1);
	ck_assert_int_eq(line, 11);
	free(e);
}
END_TEST

START_TEST(values_cross_as_json)
{
	json_t *in = json_pack("{s:[{s:i, s:s, s:n, s:b, s:f}]}", "rows", "n", 95, "s", "100", "z", "t", 1, "r", 0.5);
	sandbox_set_step(sb, "connections", in);
	json_decref(in);
	json_t *v;
	ck_assert_int_eq(run("local r = steps.connections.rows[1] "
			     "return {n = r.n, s = r.s, z = r.z == nil, t = r.t, r = r.r, list = {1, 2}, empty = {}}",
			     &v, NULL),
			 SB_OK);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "n")), 95);
	ck_assert_str_eq(json_string_value(json_object_get(v, "s")), "100");
	ck_assert(json_is_true(json_object_get(v, "z")));
	ck_assert(json_is_true(json_object_get(v, "t")));
	ck_assert(json_real_value(json_object_get(v, "r")) == 0.5);
	ck_assert_uint_eq(json_array_size(json_object_get(v, "list")), 2);
	ck_assert(json_is_object(json_object_get(v, "empty")));
	json_decref(v);
	ck_assert_int_eq(run("local t = {} t.self = t return t", &v, NULL), SB_FAILED);
	ck_assert_int_eq(run("return json.encode({a = {1, 2}, b = 'x'})", &v, NULL), SB_OK);
	ck_assert_str_eq(json_string_value(v), "{\"a\":[1,2],\"b\":\"x\"}");
	json_decref(v);
}
END_TEST

Suite *suite_sandbox(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("sandbox");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tables_come_out_sorted);
	tcase_add_test(tc, globals_are_allowlisted);
	tcase_add_test(tc, instruction_budget_cannot_be_swallowed);
	tcase_add_test(tc, memory_cap);
	tcase_add_test(tc, memory_cap_host_functions);
	tcase_add_test(tc, caps_the_hook_cannot_see);
	tcase_add_test(tc, no_way_out);
	tcase_add_test(tc, deadline_and_interrupt);
	tcase_add_test(tc, errors_point_at_yaml_lines);
	tcase_add_test(tc, values_cross_as_json);
	suite_add_tcase(s, tc);
	return s;
}
