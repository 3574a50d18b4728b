/* TEMPORARY STUB */
#include "store/store.h"
const struct bl_store_ops bl_postgres_ops = {.name = "postgres"};
