/* TEMPORARY STUB */
typedef int bl_stub_export;
