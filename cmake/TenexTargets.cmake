include_guard(GLOBAL)

# tenex_module(<name> SOURCES ... [PUBLIC_DEPS ...] [DEPS ...]): a static library tenex_<name>,
# alias tenex::<name>. Headers are included as "<module>/<file>.hpp" from src/.
# PUBLIC_DEPS: what the module's headers include (its users compile against it too); DEPS:
# what only its sources use (PRIVATE: users link it but do not see its include directories and
# definitions). A library goes in PUBLIC_DEPS only when one of the module's headers includes it.
# The tenex::<module> entries of both lists are the module graph: a file under src/<name>/ may
# include "<m>/..." only for a module m listed there (direct dependencies only). The unit test
# unit_layering (tests/unit/layering) checks every file against it and the README's table.
function(tenex_module name)
    cmake_parse_arguments(M "" "" "SOURCES;DEPS;PUBLIC_DEPS" ${ARGN})
    add_library(tenex_${name} STATIC ${M_SOURCES})
    add_library(tenex::${name} ALIAS tenex_${name})
    target_include_directories(tenex_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    if(M_PUBLIC_DEPS)
        target_link_libraries(tenex_${name} PUBLIC ${M_PUBLIC_DEPS})
    endif()
    if(M_DEPS)
        target_link_libraries(tenex_${name} PRIVATE ${M_DEPS})
    endif()
    set(modules "")
    foreach(dep IN LISTS M_PUBLIC_DEPS M_DEPS)
        if(dep MATCHES "^tenex::(.+)$")
            list(APPEND modules ${CMAKE_MATCH_1})
        endif()
    endforeach()
    list(SORT modules)
    list(REMOVE_DUPLICATES modules)
    set_property(GLOBAL APPEND PROPERTY TENEX_MODULES ${name})
    set_property(GLOBAL PROPERTY TENEX_MODULE_DEPS_${name} ${modules})
endfunction()

# tenex_write_module_graph(<file>): the module graph, one line "<module> <dep> <dep>..." per
# module, rewritten only when it changes. Call it after every module is defined.
function(tenex_write_module_graph file)
    get_property(modules GLOBAL PROPERTY TENEX_MODULES)
    set(text "")
    foreach(m IN LISTS modules)
        get_property(deps GLOBAL PROPERTY TENEX_MODULE_DEPS_${m})
        list(JOIN deps " " line)
        string(APPEND text "${m} ${line}\n")
    endforeach()
    file(CONFIGURE OUTPUT ${file} CONTENT "${text}" @ONLY)
endfunction()

# tenex_test(<name> LABEL <unit|docker|interop|e2e|attack> SOURCES ... DEPS ... [TIMEOUT s]
#            [PROPERTIES <ctest property> <value> ...])
# One GoogleTest executable, its tests registered with CTest under the label. Unit tests may run
# side by side (`ctest -j`); every other label's tests drive the one Docker engine, the host's
# networks or the machine's load, so they run alone (RUN_SERIAL).
include(GoogleTest)
function(tenex_test name)
    cmake_parse_arguments(T "" "LABEL;TIMEOUT" "SOURCES;DEPS;PROPERTIES" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    if(NOT T_LABEL STREQUAL "unit")
        list(APPEND T_PROPERTIES RUN_SERIAL TRUE)
    endif()
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE ${T_DEPS} tenex::test_support GTest::gmock GTest::gtest_main)
    gtest_discover_tests(${name}
        PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} ${T_PROPERTIES}
        DISCOVERY_TIMEOUT 60)
    set_property(GLOBAL APPEND PROPERTY TENEX_TESTS_${T_LABEL} ${name})
endfunction()
