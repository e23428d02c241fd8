import { isAbsolute } from 'node:path'
import * as z from 'zod'
import { ControlRefusal, parseRequest, type ControlRoutes } from '../control/index.ts'
import type { FileTransfer } from '../files/index.ts'
import type { BusDelivery } from '../routing/index.ts'

const SendFileRequest = z.object({
  to: z.string().min(1).max(128),
  path: z.string().min(1).max(4_096).refine(isAbsolute, { message: 'an absolute path' }),
  purpose: z.string().max(256).default('send-file')
})
const CancelRequest = z.object({ id: z.string().min(1).max(64) })

/** The control routes of files: the inbox and transfers (`files`), a file to a linked node (`send-file`), a cancel. */
export function fileRoutes (files: FileTransfer, linked: BusDelivery): ControlRoutes {
  return {
    'GET /files': () => ({ inbox: files.inbox(), transfers: files.transfers() }),
    'POST /files/send': body => {
      const request = parseRequest(SendFileRequest, body)
      const recipient = linked.recipient(request.to)
      if (recipient === undefined) throw new ControlRefusal(`no node named ${request.to} is linked to this one; \`mycroft-mesh status\` lists the parent and children`)
      const sending = files.send(recipient.peerId, request.path, { purpose: request.purpose })
      return { id: sending.id, to: recipient.name }
    },
    'POST /files/cancel': body => {
      const { id } = parseRequest(CancelRequest, body)
      if (!files.cancel(id)) throw new ControlRefusal(`no transfer ${id} is under way; \`mycroft-mesh files\` lists them`)
      return { id, cancelled: true }
    }
  }
}
