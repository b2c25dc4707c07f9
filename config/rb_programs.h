/*  rb_programs: the option table and help text of every recobus program,
    in the library so that each program's main() and the tests (which load
    config/recobus.cfg against them) share one definition.  */
#ifndef RB_PROGRAMS_H
#define RB_PROGRAMS_H

#include "rb_cli.h"

extern const rb_program_t rb_program_broker;
extern const rb_program_t rb_program_db;
extern const rb_program_t rb_program_service;
extern const rb_program_t rb_program_terminal;
extern const rb_program_t rb_program_ops;
extern const rb_program_t rb_program_monitor;
extern const rb_program_t rb_program_keygen;

#endif
