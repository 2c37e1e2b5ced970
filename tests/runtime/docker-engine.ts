/**
 * Whether the tests that need the real Docker engine can run. CI sets the engine up
 * (`./run setup --with docker`), so there an unreachable engine is a failure; elsewhere those
 * tests skip with the reason.
 */
import Docker from 'dockerode'
import { DOCKER_SOCKET_PATH } from '../../runtime/src/docker-runtime.ts'

/** The engine the tests use (the default socket). */
export const testDocker = new Docker({ socketPath: DOCKER_SOCKET_PATH })

/** Why the engine cannot be used, or undefined when it can. */
export async function engineUnavailable(): Promise<string | undefined> {
  try {
    await testDocker.ping()
    return undefined
  } catch (error) {
    return `the Docker engine at ${DOCKER_SOCKET_PATH} is unreachable (${(error as Error).message}); run ./run setup --with docker`
  }
}
