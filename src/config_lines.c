#include <string.h>

#include "config.h"
#include "config_lines.h"

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Cuts blanks (and a CR at the end) off [*s, *end). */
static void
trim(const char **s, const char **end)
{
	while (*s < *end && is_blank(**s))
		(*s)++;
	while (*end > *s && (is_blank((*end)[-1]) || (*end)[-1] == '\r'))
		(*end)--;
}

/* A '#' after a blank starts a comment; a value never holds one. */
static const char *
inline_comment(const char *s, const char *end)
{
	const char *c;

	for (c = s + 1; c < end; c++)
		if (*c == '#' && is_blank(c[-1]))
			return c;
	return end;
}

static void
read_section(const char *s, const char *end, struct config_line *l)
{
	if (end - s < 2 || end[-1] != ']') {
		l->kind = CONFIG_LINE_MALFORMED;
		l->why = "a section header must end with ']'";
		return;
	}
	s++;
	end--;
	trim(&s, &end);
	l->kind = CONFIG_LINE_SECTION;
	l->name = s;
	l->name_len = (size_t)(end - s);
}

static void
read_setting(const char *s, const char *end, struct config_line *l)
{
	const char *eq = memchr(s, '=', (size_t)(end - s));
	const char *kend, *v, *vend = end;

	if (eq == NULL) {
		l->kind = CONFIG_LINE_MALFORMED;
		l->why = "expected 'key = value' or '[domain]'";
		return;
	}
	kend = eq;
	v = eq + 1;
	trim(&s, &kend);
	trim(&v, &vend);
	l->kind = CONFIG_LINE_SETTING;
	l->name = s;
	l->name_len = (size_t)(kend - s);
	l->value = v;
	l->value_len = (size_t)(vend - v);
}

static void
read_line(const char *s, const char *end, struct config_line *l)
{
	if (memchr(s, '\0', (size_t)(end - s)) != NULL) {
		l->kind = CONFIG_LINE_MALFORMED;
		l->why = "contains a NUL byte; is it a text file?";
		return;
	}
	trim(&s, &end);
	if (s == end || *s == '#' || *s == ';') {
		l->kind = CONFIG_LINE_EMPTY;
		return;
	}
	end = inline_comment(s, end);
	trim(&s, &end);
	if (*s == '[')
		read_section(s, end, l);
	else
		read_setting(s, end, l);
}

int
config_next_line(struct config_text *t, struct config_line *l)
{
	const char *s = t->text + t->pos, *end = t->text + t->len, *nl;

	if (t->pos >= t->len)
		return 0;
	memset(l, 0, sizeof(*l));
	l->number = ++t->number;
	l->start = t->pos;
	if ((nl = memchr(s, '\n', (size_t)(end - s))) != NULL)
		end = nl;
	read_line(s, end, l);
	t->pos = nl != NULL ? (size_t)(nl - t->text) + 1 : t->len;
	l->next = t->pos;
	return 1;
}

int
config_section_is_global(const char *name, size_t len)
{
	return len == strlen(CONFIG_GLOBAL_SECTION) &&
	    memcmp(name, CONFIG_GLOBAL_SECTION, len) == 0;
}
