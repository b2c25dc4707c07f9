/*  rb_crc16: the hash slot of a Redis Cluster key. Redis Cluster maps
    each key to one of 16384 slots by CRC-16/XMODEM (polynomial 0x1021,
    initial value 0) of the key, or of its hash tag: the bytes between
    the first '{' and the first '}' after it, when there is at least one
    byte between them. Keys with the same tag are in the same slot, which
    is what lets one script touch several of them on a cluster.  */
#ifndef RB_CRC16_H
#define RB_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define RB_SLOTS 16384

uint16_t rb_crc16 (const void *buf, size_t len);

/*  The slot of key (len bytes, any bytes), 0 .. RB_SLOTS - 1. */
int rb_key_slot (const char *key, size_t len);

#endif
