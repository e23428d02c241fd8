import * as z from 'zod'
import { MycroftMessageSchema } from '../link/index.ts'

export const BusEnvelopeSchema = z.object({ message: MycroftMessageSchema })
