/*
 * The config file's syntax, one line at a time: comments, [section]
 * headers and key = value settings. The loader (config.c) and the rewriter
 * of rotate-secrets (secrets.c) both read through it, so that the two can
 * never disagree on what a line says. It knows no key and checks no value.
 */
#ifndef CONFIG_LINES_H
#define CONFIG_LINES_H

#include <stddef.h>

enum config_line_kind {
	CONFIG_LINE_EMPTY,	/* blank, or a comment ('#' or ';') */
	CONFIG_LINE_SECTION,	/* [name] */
	CONFIG_LINE_SETTING,	/* key = value */
	CONFIG_LINE_MALFORMED	/* none of those: why says what is wrong */
};

/*
 * One line. Offsets are into the text; name and value point into it, blanks
 * around them and an inline comment (a '#' after a blank) cut off.
 */
struct config_line {
	int number;	     /* from 1 */
	size_t start, next;  /* the line, its newline included: [start, next) */
	enum config_line_kind kind;
	const char *name;    /* a section's name (in the brackets), or a key */
	size_t name_len;
	const char *value;   /* a setting's value */
	size_t value_len;
	const char *why;     /* CONFIG_LINE_MALFORMED: for the person */
};

/* A text being read: { text, len } to begin at its first line. */
struct config_text {
	const char *text;
	size_t len;
	size_t pos;	/* where the next line begins */
	int number;	/* the last line's */
};

/* The next line into *l. Returns 1, or 0 at the end of the text. */
int config_next_line(struct config_text *, struct config_line *l);

/* Whether a section's name is the global section's. */
int config_section_is_global(const char *name, size_t len);

#endif
