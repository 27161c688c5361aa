#ifndef CNCURSESW_SHIM_H
#define CNCURSESW_SHIM_H
// Debian's <curses.h> declares the wide-character API (cchar_t, wget_wch, mvwaddnwstr) only
// when NCURSES_WIDECHAR is set before the include.
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <langinfo.h>
#include <wchar.h>
#include <ncursesw/curses.h>
#endif
