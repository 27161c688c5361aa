#ifndef CNCURSESSHIM_H
#define CNCURSESSHIM_H
#include <stdint.h>
// Plain C types only: this header must not include curses.h, so the module never redeclares
// ncurses symbols next to CNCursesW. Window handles travel as void *.

uint32_t ncs_a_normal(void);
uint32_t ncs_a_bold(void);
uint32_t ncs_a_dim(void);
uint32_t ncs_a_reverse(void);
uint32_t ncs_a_underline(void);
uint32_t ncs_color_pair(int pair);
void ncs_getmaxyx(void *win, int *rows, int *cols);
void *ncs_stdscr(void);
#endif
