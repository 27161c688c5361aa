#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>
#include "CNCursesShim.h"

uint32_t ncs_a_normal(void) { return A_NORMAL; }
uint32_t ncs_a_bold(void) { return A_BOLD; }
uint32_t ncs_a_dim(void) { return A_DIM; }
uint32_t ncs_a_reverse(void) { return A_REVERSE; }
uint32_t ncs_a_underline(void) { return A_UNDERLINE; }
uint32_t ncs_color_pair(int pair) { return (uint32_t)COLOR_PAIR(pair); }

void ncs_getmaxyx(void *win, int *rows, int *cols) {
    int y, x;
    getmaxyx((WINDOW *)win, y, x);
    *rows = y;
    *cols = x;
}

void *ncs_stdscr(void) { return stdscr; }
