/* <smr/config.h> for the GenMC models (tests/model/): release semantics,
 * 64-bit sequences unless the model asks for 32-bit ones. */
#ifndef SMR_CONFIG_H
#define SMR_CONFIG_H
#ifndef SMR_CONFIG_FORCE_SEQ32
#define SMR_CONFIG_FORCE_SEQ32 0
#endif
#define SMR_CONFIG_DEBUG 0
#define SMR_VERSION_MAJOR 0
#define SMR_VERSION_MINOR 0
#define SMR_VERSION_PATCH 0
#endif
