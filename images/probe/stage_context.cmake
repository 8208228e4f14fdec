# Stages the probe image's build context (cmake -P script, run after every link of tenex-probe):
#   OUT/Dockerfile
#   OUT/rootfs/tenex-probe                 the program
#   OUT/rootfs/<path of each shared library ldd resolves>, and the loader (PT_INTERP)
#   OUT/rootfs/etc/nsswitch.conf           hosts: files dns
#   OUT/rootfs/etc/ssl/certs/ca-certificates.crt   when the build machine has it (wss://)
# Inputs: -DBINARY= -DDOCKERFILE= -DNSSWITCH= -DOUT= [-DCA_BUNDLE=] [-DSTRIP=]
# The staged program loses its debug info when STRIP names a strip tool (the one in the
# build tree keeps it).
foreach(var BINARY DOCKERFILE NSSWITCH OUT)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "stage_context.cmake: ${var} is not set")
    endif()
endforeach()

file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT}/rootfs/etc)
file(COPY_FILE ${DOCKERFILE} ${OUT}/Dockerfile)
file(COPY_FILE ${BINARY} ${OUT}/rootfs/tenex-probe)
if(STRIP)
    execute_process(COMMAND ${STRIP} --strip-debug ${OUT}/rootfs/tenex-probe RESULT_VARIABLE strip_rc)
    if(NOT strip_rc EQUAL 0)
        message(FATAL_ERROR "stage_context.cmake: ${STRIP} failed on the staged tenex-probe")
    endif()
endif()
file(COPY_FILE ${NSSWITCH} ${OUT}/rootfs/etc/nsswitch.conf)
if(CA_BUNDLE AND EXISTS ${CA_BUNDLE})
    file(MAKE_DIRECTORY ${OUT}/rootfs/etc/ssl/certs)
    file(REAL_PATH ${CA_BUNDLE} ca_real)
    file(COPY_FILE ${ca_real} ${OUT}/rootfs/etc/ssl/certs/ca-certificates.crt)
endif()

execute_process(COMMAND ldd ${BINARY}
    OUTPUT_VARIABLE ldd_out ERROR_VARIABLE ldd_err RESULT_VARIABLE ldd_rc)
if(NOT ldd_rc EQUAL 0)
    message(FATAL_ERROR "stage_context.cmake: ldd ${BINARY} failed: ${ldd_err}${ldd_out}")
endif()
string(REPLACE "\n" ";" ldd_lines "${ldd_out}")
set(count 0)
foreach(line IN LISTS ldd_lines)
    if(line MATCHES "not found")
        message(FATAL_ERROR "stage_context.cmake: missing shared library: ${line}")
    elseif(line MATCHES "=> (/[^ ]+) \\(")
        set(lib ${CMAKE_MATCH_1})
    elseif(line MATCHES "^[ \t]*(/[^ ]+) \\(")
        set(lib ${CMAKE_MATCH_1})  # the loader, at the path the binary names (PT_INTERP)
    else()
        continue()  # linux-vdso.so.1: provided by the kernel
    endif()
    file(REAL_PATH ${lib} lib_real)
    get_filename_component(lib_dir ${lib} DIRECTORY)
    file(MAKE_DIRECTORY ${OUT}/rootfs${lib_dir})
    file(COPY_FILE ${lib_real} ${OUT}/rootfs${lib})
    math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
    message(FATAL_ERROR "stage_context.cmake: ldd found no shared libraries in ${BINARY}")
endif()
