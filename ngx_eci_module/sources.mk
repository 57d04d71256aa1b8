# The nginx-free core: every eci_*.c, named once, in the order of the
# data flow (request -> target -> ACL -> key -> response -> audit line ->
# chain), after the parts they all use.  The Makefile includes this file
# (the tools, the unit tests, the fuzzers, the benchmarks and make
# mutation link these objects); ../config, the shell script nginx's
# configure sources, reads the names from it with sed: keep one name a
# line, indented, as below.

ECI_CORE_NAMES := \
    eci_common \
    eci_error \
    eci_secret \
    eci_jansson \
    eci_sha256 \
    eci_target \
    eci_arena \
    eci_acl_load \
    eci_acl_fields \
    eci_acl_table \
    eci_acl_index \
    eci_acl \
    eci_file \
    eci_seal \
    eci_keystore \
    eci_keyscan \
    eci_response \
    eci_json \
    eci_audit_line \
    eci_chain \
    eci_chain_verify
